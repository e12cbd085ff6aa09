-- Payment discrepancies: a billing payment with no ERP payment, or an ERP payment whose amount
-- differs. Card payments match by charge id; wires (one ERP payment, many invoices) through
-- the invoices they pay.
with

payments as (

    select * from {{ ref('fct_payment') }}

),

missing as (

    select
        'payment_missing_in_erp' as exception_type,
        cast(null as varchar) as crm_id,
        case when payment_method = 'charge' then payment_id else invoice_id end as billing_id,
        cast(null as varchar) as erp_id,
        cast(null as varchar) as field_name,
        cast(null as varchar) as correct_value,
        cast(null as varchar) as wrong_value,
        currency_code,
        amount as amount_delta,
        paid_at as detected_at
    from payments
    where not is_posted_to_erp

),

amount_mismatch as (

    select
        'payment_amount_mismatch' as exception_type,
        cast(null as varchar) as crm_id,
        case when payment_method = 'charge' then payment_id else invoice_id end as billing_id,
        erp_payment_id as erp_id,
        'foreigntotal' as field_name,
        {{ format_amount('amount', 'currency_code') }} as correct_value,
        {{ format_amount('erp_amount', 'currency_code') }} as wrong_value,
        currency_code,
        amount - erp_amount as amount_delta,
        paid_at as detected_at
    from payments
    where
        is_posted_to_erp
        and payment_method = 'charge'
        and {{ amounts_differ('amount', 'erp_amount', 'currency_code') }}

),

wire_application_mismatch as (

    select
        'payment_amount_mismatch' as exception_type,
        cast(null as varchar) as crm_id,
        invoice_id as billing_id,
        erp_payment_id as erp_id,
        'applied_amount' as field_name,
        {{ format_amount('amount', 'currency_code') }} as correct_value,
        {{ format_amount('erp_applied_amount', 'currency_code') }} as wrong_value,
        currency_code,
        amount - erp_applied_amount as amount_delta,
        paid_at as detected_at
    from payments
    where
        is_posted_to_erp
        and payment_method = 'out_of_band'
        and {{ amounts_differ('amount', 'erp_applied_amount', 'currency_code') }}

),

final as (

    select * from missing
    union all
    select * from amount_mismatch
    union all
    select * from wire_application_mismatch

)

select * from final
