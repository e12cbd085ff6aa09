{%- set mode = var('erp_payment_reference') -%}
{%- if mode not in ('auto', 'charge', 'payment_intent') -%}
    {{ exceptions.raise_compiler_error("var erp_payment_reference must be auto, charge or payment_intent, not '" ~ mode ~ "'") }}
{%- endif -%}
-- Payments as billing records them, one row per payment and invoice it pays: succeeded
-- charges, and invoices paid out of band (bank wires), with the ERP payment each maps to.
-- A card payment's ERP payment carries the charge id (ch_) or its payment intent's (pi_) in
-- externalid (var `erp_payment_reference`: charge, payment_intent or auto = either). A wire is
-- one ERP payment applied to many invoices; it is found through the invoice.
with

charges as (

    select * from {{ ref('stg_billing__charges') }}

),

invoices as (

    select * from {{ ref('stg_billing__invoices') }}

),

erp_applications as (

    select * from {{ ref('int_erp_payment_applications') }}

),

xref as (

    -- any billing customer of a canonical customer (one per currency) rolls up to it
    select * from {{ ref('customer_xref_members') }}
    where source_system = 'billing'

),

fx as (

    select * from {{ ref('int_fx_rates_daily') }}

),

erp_by_external_id as (

    select
        payment_external_id,
        erp_payment_id,
        payment_total,
        sum(applied_amount) as applied_amount
    from erp_applications
    group by 1, 2, 3
    qualify row_number() over (partition by payment_external_id order by erp_payment_id) = 1

),

card_payments as (

    select
        charges.charge_id as payment_id,
        'charge' as payment_method,
        charges.invoice_id,
        charges.customer_id,
        charges.currency_code,
        charges.amount,
        charges.created_at as paid_at,
        {{ erp_payment_by_reference('erp_payment_id', mode) }} as erp_payment_id,
        {{ erp_payment_by_reference('payment_total', mode) }} as erp_amount,
        {{ erp_payment_by_reference('applied_amount', mode) }} as erp_applied_amount,
        {{ erp_payment_match_method(mode) }} as erp_match_method
    from charges
    left join erp_by_external_id as by_charge on charges.charge_id = by_charge.payment_external_id
    left join erp_by_external_id as by_intent
        on charges.payment_intent_id = by_intent.payment_external_id
    where charges.charge_status = 'succeeded'

),

wire_payments as (

    select
        invoices.invoice_id || ':out_of_band' as payment_id,
        'out_of_band' as payment_method,
        invoices.invoice_id,
        invoices.customer_id,
        invoices.currency_code,
        invoices.total as amount,
        invoices.paid_at,
        erp_applications.erp_payment_id,
        erp_applications.payment_total as erp_amount,
        erp_applications.applied_amount as erp_applied_amount,
        case when erp_applications.erp_payment_id is not null then 'invoice' end as erp_match_method
    from invoices
    left join erp_applications
        on
            invoices.invoice_id = erp_applications.invoice_external_id
            and substr(coalesce(erp_applications.payment_external_id, ''), 1, 3) not in ('ch_', 'pi_')
    where invoices.is_paid_out_of_band and invoices.invoice_status = 'paid'

),

payments as (

    select * from card_payments
    union all
    select * from wire_payments

),

final as (

    select
        -- ids
        {{ surrogate_key(['payments.payment_id', 'payments.invoice_id']) }} as payment_application_id,
        cast(payments.payment_id as varchar) as payment_id,
        cast(payments.invoice_id as varchar) as invoice_id,
        cast(payments.customer_id as varchar) as billing_customer_id,
        xref.customer_id,
        cast(payments.erp_payment_id as varchar) as erp_payment_id,
        -- strings
        cast(payments.payment_method as varchar) as payment_method,
        cast(payments.currency_code as varchar) as currency_code,
        -- numerics
        cast(payments.amount as decimal(38, 3)) as amount,
        {{ to_usd('payments.amount', 'fx.usd_per_unit') }} as amount_usd,
        cast(payments.erp_amount as decimal(38, 3)) as erp_amount,
        cast(payments.erp_applied_amount as decimal(38, 3)) as erp_applied_amount,
        -- booleans
        payments.erp_payment_id is not null as is_posted_to_erp,
        -- timestamps
        cast(payments.paid_at as timestamp) as paid_at,
        -- how the ERP payment was tied (charge, payment_intent, invoice), the rate's own date
        cast(payments.erp_match_method as varchar) as erp_match_method,
        cast(fx.rate_effective_date as date) as rate_effective_date
    from payments
    left join xref on payments.customer_id = xref.billing_customer_id
    left join fx
        on
            payments.currency_code = fx.currency_code
            and cast(payments.paid_at as date) = fx.rate_date

)

select * from final
