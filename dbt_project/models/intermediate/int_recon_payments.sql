-- Payment discrepancies: a billing payment with no ERP payment, or an ERP payment whose amount
-- differs. Card payments match by charge id; wires (one ERP payment, many invoices) through
-- the invoices they pay. A payment is compared with what it was applied, not with the invoice
-- total: an invoice paid out of band is compared, applications summed, with the amount billing
-- records as paid on it (`amount_paid`: less than the total when a credit note came before the
-- payment, the rest credited, not paid).
with

payments as (

    select * from {{ ref('fct_payment') }}

),

invoices as (

    select * from {{ ref('stg_billing__invoices') }}

),

wire_applications as (

    -- one row per invoice paid out of band: what the ERP applied to it, by every payment
    select
        payments.invoice_id,
        payments.currency_code,
        coalesce(invoices.amount_paid, max(payments.amount)) as amount_paid,
        sum(payments.erp_applied_amount) as erp_applied_amount,
        max(payments.erp_payment_id) as erp_payment_id,
        max(payments.paid_at) as paid_at
    from payments
    left join invoices on payments.invoice_id = invoices.invoice_id
    where payments.is_posted_to_erp and payments.payment_method = 'out_of_band'
    group by payments.invoice_id, payments.currency_code, invoices.amount_paid

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
        {{ format_amount('amount_paid', 'currency_code') }} as correct_value,
        {{ format_amount('erp_applied_amount', 'currency_code') }} as wrong_value,
        currency_code,
        amount_paid - erp_applied_amount as amount_delta,
        paid_at as detected_at
    from wire_applications
    where {{ amounts_differ('amount_paid', 'erp_applied_amount', 'currency_code') }}

),

final as (

    select * from missing
    union all
    select * from amount_mismatch
    union all
    select * from wire_application_mismatch

)

select * from final
