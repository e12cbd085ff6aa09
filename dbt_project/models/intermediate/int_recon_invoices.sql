-- Invoice discrepancies between billing (system of record for invoice content) and the ERP
-- postings: missing, duplicated, wrong amount, wrong currency, wrong status.
with

invoices as (

    select * from {{ ref('stg_billing__invoices') }}

),

erp_invoices as (

    select * from {{ ref('int_erp_invoices') }}

),

posted as (

    select
        invoices.invoice_id,
        invoices.invoice_status,
        invoices.currency_code,
        invoices.total,
        invoices.finalized_at,
        invoices.voided_at,
        invoices.paid_at,
        erp_invoices.transaction_id as erp_invoice_id,
        erp_invoices.currency_code as erp_currency_code,
        erp_invoices.foreign_total as erp_total,
        erp_invoices.transaction_status as erp_status,
        erp_invoices.payment_count as erp_payment_count,
        erp_invoices.last_modified_at as erp_last_modified_at,
        -- Stripe status -> the ERP status the legacy mapping should produce; a paid invoice
        -- is `B` only once its payment is posted (a missing payment is its own exception)
        case
            when invoices.invoice_status = 'void' then 'V'
            when invoices.invoice_status = 'paid' and erp_invoices.payment_count > 0 then 'B'
            else 'A'
        end as expected_erp_status
    from invoices
    inner join erp_invoices
        on
            invoices.invoice_id = erp_invoices.billing_invoice_id
            and erp_invoices.is_primary_posting

),

missing as (

    select
        'invoice_missing_in_erp' as exception_type,
        cast(null as varchar) as crm_id,
        invoices.invoice_id as billing_id,
        cast(null as varchar) as erp_id,
        cast(null as varchar) as field_name,
        cast(null as varchar) as correct_value,
        cast(null as varchar) as wrong_value,
        invoices.currency_code,
        invoices.total as amount_delta,
        invoices.finalized_at as detected_at
    from invoices
    left join erp_invoices
        on
            invoices.invoice_id = erp_invoices.billing_invoice_id
            and erp_invoices.is_primary_posting
    where erp_invoices.transaction_id is null and invoices.finalized_at is not null

),

duplicates as (

    select
        'invoice_duplicate_in_erp' as exception_type,
        cast(null as varchar) as crm_id,
        posted.invoice_id as billing_id,
        cast(duplicate.transaction_id as varchar) as erp_id,
        -- the field and value that tie the duplicate to the invoice
        duplicate.billing_link_field as field_name,
        cast(null as varchar) as correct_value,
        duplicate.billing_link_value as wrong_value,
        duplicate.currency_code,
        duplicate.foreign_total as amount_delta,
        duplicate.created_at as detected_at
    from erp_invoices as duplicate
    inner join posted
        on
            duplicate.billing_invoice_id = posted.invoice_id
            and duplicate.transaction_id <> posted.erp_invoice_id
    where not duplicate.is_voided and not duplicate.is_primary_posting

),

amount_mismatch as (

    select
        'invoice_amount_mismatch' as exception_type,
        cast(null as varchar) as crm_id,
        invoice_id as billing_id,
        cast(erp_invoice_id as varchar) as erp_id,
        'foreigntotal' as field_name,
        {{ format_amount('total', 'currency_code') }} as correct_value,
        {{ format_amount('erp_total', 'currency_code') }} as wrong_value,
        currency_code,
        total - erp_total as amount_delta,
        erp_last_modified_at as detected_at
    from posted
    where currency_code = erp_currency_code and {{ amounts_differ('total', 'erp_total', 'currency_code') }}

),

currency_mismatch as (

    select
        'invoice_currency_mismatch' as exception_type,
        cast(null as varchar) as crm_id,
        invoice_id as billing_id,
        cast(erp_invoice_id as varchar) as erp_id,
        'currency' as field_name,
        currency_code as correct_value,
        erp_currency_code as wrong_value,
        currency_code,
        total as amount_delta,
        erp_last_modified_at as detected_at
    from posted
    where currency_code <> erp_currency_code

),

status_mismatch as (

    select
        'invoice_status_mismatch' as exception_type,
        cast(null as varchar) as crm_id,
        invoice_id as billing_id,
        cast(erp_invoice_id as varchar) as erp_id,
        'status' as field_name,
        expected_erp_status as correct_value,
        erp_status as wrong_value,
        currency_code,
        total as amount_delta,
        coalesce(voided_at, paid_at, erp_last_modified_at) as detected_at
    from posted
    where expected_erp_status <> erp_status

),

final as (

    select * from missing
    union all
    select * from duplicates
    union all
    select * from amount_mismatch
    union all
    select * from currency_mismatch
    union all
    select * from status_mismatch

)

select * from final
