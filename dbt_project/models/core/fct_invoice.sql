-- Billing invoices (system of record) with their ERP posting. USD at the ERP rate of the UTC
-- date of finalization (the document date).
with

invoices as (

    select * from {{ ref('stg_billing__invoices') }}

),

erp_invoices as (

    select * from {{ ref('int_erp_invoices') }}

),

xref as (

    -- any billing customer of a canonical customer (one per currency) rolls up to it
    select * from {{ ref('customer_xref_members') }}
    where source_system = 'billing'

),

fx as (

    select * from {{ ref('int_fx_rates_daily') }}

),

erp_posting as (

    select
        billing_invoice_id,
        transaction_id,
        transaction_status,
        billing_match_method
    from erp_invoices
    where is_primary_posting

),

final as (

    select
        -- ids
        cast(invoices.invoice_id as varchar) as invoice_id,
        cast(invoices.customer_id as varchar) as billing_customer_id,
        xref.customer_id,
        cast(invoices.subscription_id as varchar) as subscription_id,
        cast(invoices.charge_id as varchar) as charge_id,
        cast(erp_posting.transaction_id as varchar) as erp_invoice_id,
        -- strings
        cast(invoices.invoice_number as varchar) as invoice_number,
        cast(invoices.invoice_status as varchar) as invoice_status,
        cast(erp_posting.transaction_status as varchar) as erp_status,
        cast(invoices.billing_reason as varchar) as billing_reason,
        cast(invoices.collection_method as varchar) as collection_method,
        cast(invoices.currency_code as varchar) as currency_code,
        -- numerics
        cast(fx.usd_per_unit as decimal(38, 9)) as usd_per_unit,
        invoices.total,
        {{ to_usd('invoices.total', 'fx.usd_per_unit') }} as total_usd,
        invoices.amount_paid,
        {{ to_usd('invoices.amount_paid', 'fx.usd_per_unit') }} as amount_paid_usd,
        invoices.amount_remaining,
        {{ to_usd('invoices.amount_remaining', 'fx.usd_per_unit') }} as amount_remaining_usd,
        invoices.post_payment_credit_notes_amount,
        {{ to_usd('invoices.post_payment_credit_notes_amount', 'fx.usd_per_unit') }}
            as post_payment_credit_notes_amount_usd,
        -- booleans
        invoices.is_paid_out_of_band,
        erp_posting.transaction_id is not null as is_posted_to_erp,
        -- dates and timestamps
        cast(invoices.finalized_at as date) as invoice_date,
        cast(invoices.created_at as timestamp) as created_at,
        cast(invoices.finalized_at as timestamp) as finalized_at,
        cast(invoices.due_at as timestamp) as due_at,
        cast(invoices.paid_at as timestamp) as paid_at,
        cast(invoices.voided_at as timestamp) as voided_at,
        cast(invoices.marked_uncollectible_at as timestamp) as marked_uncollectible_at,
        -- how the ERP posting was tied, and the rate's own effective date
        cast(erp_posting.billing_match_method as varchar) as erp_match_method,
        cast(fx.rate_effective_date as date) as rate_effective_date
    from invoices
    left join erp_posting on invoices.invoice_id = erp_posting.billing_invoice_id
    left join xref on invoices.customer_id = xref.billing_customer_id
    left join fx
        on
            invoices.currency_code = fx.currency_code
            and cast(invoices.finalized_at as date) = fx.rate_date

)

select * from final
