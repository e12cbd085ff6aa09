with

credit_notes as (

    select * from {{ ref('stg_billing__credit_notes') }}

),

erp_memos as (

    select * from {{ ref('stg_erp__transactions') }}
    where transaction_type = 'CustCred'

),

xref as (

    -- any billing customer of a canonical customer (one per currency) rolls up to it
    select * from {{ ref('customer_xref_members') }}
    where source_system = 'billing'

),

fx as (

    select * from {{ ref('int_fx_rates_daily') }}

),

final as (

    select
        -- ids
        cast(credit_notes.credit_note_id as varchar) as credit_note_id,
        cast(credit_notes.invoice_id as varchar) as invoice_id,
        cast(credit_notes.customer_id as varchar) as billing_customer_id,
        xref.customer_id,
        cast(erp_memos.transaction_id as varchar) as erp_credit_memo_id,
        -- strings
        cast(credit_notes.credit_note_number as varchar) as credit_note_number,
        cast(credit_notes.credit_note_status as varchar) as credit_note_status,
        cast(credit_notes.reason as varchar) as reason,
        cast(credit_notes.currency_code as varchar) as currency_code,
        -- numerics
        credit_notes.total,
        {{ to_usd('credit_notes.total', 'fx.usd_per_unit') }} as total_usd,
        credit_notes.out_of_band_amount,
        {{ to_usd('credit_notes.out_of_band_amount', 'fx.usd_per_unit') }} as out_of_band_amount_usd,
        -- booleans
        erp_memos.transaction_id is not null as is_posted_to_erp,
        -- timestamps
        cast(credit_notes.created_at as timestamp) as created_at
    from credit_notes
    left join erp_memos on credit_notes.credit_note_id = erp_memos.external_id
    left join xref on credit_notes.customer_id = xref.billing_customer_id
    left join fx
        on
            credit_notes.currency_code = fx.currency_code
            and cast(credit_notes.created_at as date) = fx.rate_date

)

select * from final
