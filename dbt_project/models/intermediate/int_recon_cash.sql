-- Cash and credit discrepancies between billing (system of record for refunds, credit notes
-- and card payments) and the ERP's postings (docs/exceptions.md, "Cash and credits"):
-- * refund_missing_in_erp: a succeeded Stripe refund no ERP customer refund (or credit memo)
--   posts;
-- * credit_note_missing_in_erp: a Stripe credit note (not void) no ERP credit memo posts;
-- * payment_unapplied_in_erp: an ERP customer payment whose applications do not cover its
--   total: cash left unapplied, or applied to another invoice than the one the Stripe charge
--   paid (only applications to that invoice's postings count for a card payment);
-- * payment_duplicate_in_erp: a second ERP payment posting the same Stripe charge.
with

documents as (

    select * from {{ ref('int_erp_cash_documents') }}

),

applications as (

    select * from {{ ref('int_erp_payment_applications') }}

),

refunds as (

    select * from {{ ref('stg_billing__refunds') }}
    where refund_status = 'succeeded'

),

credit_notes as (

    select * from {{ ref('stg_billing__credit_notes') }}
    where coalesce(credit_note_status, '') <> 'void'

),

charges as (

    select * from {{ ref('stg_billing__charges') }}
    where charge_status = 'succeeded'

),

refund_documents as (

    -- a refund is posted as a customer refund, or as a credit memo by some integrations
    select distinct billing_id
    from documents
    where transaction_type in ('CustRfnd', 'CustCred')

),

credit_memos as (

    select distinct billing_id
    from documents
    where transaction_type = 'CustCred'

),

payments as (

    select * from documents
    where transaction_type = 'CustPymt'

),

applied as (

    -- per ERP payment: what it applies in all, and to the postings of the charge's invoice
    select
        payments.transaction_id,
        sum(applications.applied_amount) as applied_total,
        sum(
            case when applications.invoice_external_id = charges.invoice_id then applications.applied_amount end
        ) as applied_to_invoice
    from payments
    inner join applications on payments.transaction_id = applications.erp_payment_id
    left join charges on payments.billing_id = charges.charge_id
    group by 1

),

refund_missing as (

    select
        'refund_missing_in_erp' as exception_type,
        cast(null as varchar) as crm_id,
        refunds.refund_id as billing_id,
        cast(null as varchar) as erp_id,
        cast(null as varchar) as field_name,
        cast(null as varchar) as correct_value,
        cast(null as varchar) as wrong_value,
        refunds.currency_code,
        refunds.amount as amount_delta,
        refunds.created_at as detected_at
    from refunds
    left join refund_documents on refunds.refund_id = refund_documents.billing_id
    where refund_documents.billing_id is null

),

credit_note_missing as (

    select
        'credit_note_missing_in_erp' as exception_type,
        cast(null as varchar) as crm_id,
        credit_notes.credit_note_id as billing_id,
        cast(null as varchar) as erp_id,
        cast(null as varchar) as field_name,
        cast(null as varchar) as correct_value,
        cast(null as varchar) as wrong_value,
        credit_notes.currency_code,
        credit_notes.total as amount_delta,
        credit_notes.created_at as detected_at
    from credit_notes
    left join credit_memos on credit_notes.credit_note_id = credit_memos.billing_id
    where credit_memos.billing_id is null

),

unapplied as (

    -- a card payment counts only what it applies to the invoice its charge paid; any other
    -- payment (a wire) what it applies at all. A duplicate posting is reported as one.
    select
        'payment_unapplied_in_erp' as exception_type,
        cast(null as varchar) as crm_id,
        charges.charge_id as billing_id,
        cast(payments.transaction_id as varchar) as erp_id,
        'applied' as field_name,
        {{ format_amount('payments.foreign_total', 'payments.currency_code') }} as correct_value,
        {{ format_amount(
            'coalesce(case when charges.invoice_id is not null then applied.applied_to_invoice'
            ~ ' else applied.applied_total end, 0)',
            'payments.currency_code'
        ) }} as wrong_value,
        payments.currency_code,
        payments.foreign_total - coalesce(
            case
                when charges.invoice_id is not null then applied.applied_to_invoice
                else applied.applied_total
            end,
            0
        ) as amount_delta,
        payments.created_at as detected_at
    from payments
    left join applied on payments.transaction_id = applied.transaction_id
    left join charges on payments.billing_id = charges.charge_id
    where
        (payments.is_primary_posting or payments.billing_id is null)
        and {{ amounts_differ(
            'payments.foreign_total',
            'coalesce(case when charges.invoice_id is not null then applied.applied_to_invoice'
            ~ ' else applied.applied_total end, 0)',
            'payments.currency_code'
        ) }}

),

duplicates as (

    select
        'payment_duplicate_in_erp' as exception_type,
        cast(null as varchar) as crm_id,
        charges.charge_id as billing_id,
        cast(duplicate.transaction_id as varchar) as erp_id,
        -- the field and value that tie the duplicate to the charge
        duplicate.billing_link_field as field_name,
        cast(null as varchar) as correct_value,
        duplicate.billing_link_value as wrong_value,
        duplicate.currency_code,
        duplicate.foreign_total as amount_delta,
        duplicate.created_at as detected_at
    from payments as duplicate
    inner join charges on duplicate.billing_id = charges.charge_id
    where not duplicate.is_primary_posting

),

final as (

    select * from refund_missing
    union all
    select * from credit_note_missing
    union all
    select * from unapplied
    union all
    select * from duplicates

)

select * from final
