-- The cash family of kpi_monthly in long format. Definitions: docs/metrics.md (Billings,
-- Collections, Open AR). Documents in the month they happen, each in USD at the rate of its own
-- date: gross billings at finalization (a later void does not rewrite the month), voids in the
-- month voided (at the invoice's own rate), credit notes when issued, payments when received,
-- succeeded refunds when created; the nets are the differences; write-offs for what the invoice
-- still owed, in the month written off (at the invoice's own rate). Open AR at each month end is
-- ar_aging_monthly's amount remaining, converted at the month-end rate.
with

months as (

    select * from {{ ref('int_months') }}

),

fx as (

    select * from {{ ref('int_fx_rates_daily') }}

),

invoices as (

    select * from {{ ref('fct_invoice') }}
    where finalized_at is not null

),

credit_notes as (

    select * from {{ ref('fct_credit_note') }}
    where coalesce(credit_note_status, '') <> 'void'

),

payments as (

    select * from {{ ref('fct_payment') }}

),

refunds as (

    select * from {{ ref('stg_billing__refunds') }}
    where refund_status = 'succeeded'

),

aging as (

    select * from {{ ref('ar_aging_monthly') }}

),

written_off_paid as (

    select
        invoices.invoice_id,
        sum(payments.amount) as amount_paid
    from invoices
    inner join payments
        on
            invoices.invoice_id = payments.invoice_id
            and invoices.marked_uncollectible_at > payments.paid_at
    group by 1

),

written_off_credited as (

    select
        invoices.invoice_id,
        sum(credit_notes.total) as amount_credited
    from invoices
    inner join credit_notes
        on
            invoices.invoice_id = credit_notes.invoice_id
            and invoices.marked_uncollectible_at > credit_notes.created_at
    group by 1

),

written_off as (

    -- what each written-off invoice still owed at that instant: total - payments - credit notes
    -- dated before it, floored at zero
    select
        invoices.invoice_id,
        invoices.currency_code,
        invoices.marked_uncollectible_at,
        invoices.usd_per_unit,
        cast(greatest(
            invoices.total
            - coalesce(written_off_paid.amount_paid, 0)
            - coalesce(written_off_credited.amount_credited, 0),
            0
        ) as decimal(38, 3)) as amount
    from invoices
    left join written_off_paid on invoices.invoice_id = written_off_paid.invoice_id
    left join written_off_credited on invoices.invoice_id = written_off_credited.invoice_id
    where invoices.marked_uncollectible_at is not null

),

documents as (

    select
        cast(date_trunc('month', finalized_at) as date) as month_start,
        currency_code,
        'billings' as metric,
        total as amount,
        total_usd as amount_usd
    from invoices
    union all
    select
        cast(date_trunc('month', voided_at) as date) as month_start,
        currency_code,
        'billings_voided' as metric,
        total as amount,
        total_usd as amount_usd
    from invoices
    where voided_at is not null
    union all
    select
        cast(date_trunc('month', created_at) as date) as month_start,
        currency_code,
        'credit_notes' as metric,
        total as amount,
        total_usd as amount_usd
    from credit_notes
    union all
    select
        cast(date_trunc('month', paid_at) as date) as month_start,
        currency_code,
        'collections' as metric,
        amount,
        amount_usd
    from payments
    union all
    select
        cast(date_trunc('month', refunds.created_at) as date) as month_start,
        refunds.currency_code,
        'refunds' as metric,
        refunds.amount,
        {{ to_usd('refunds.amount', 'fx.usd_per_unit') }} as amount_usd
    from refunds
    left join fx
        on
            refunds.currency_code = fx.currency_code
            and cast(refunds.created_at as date) = fx.rate_date
    union all
    select
        cast(date_trunc('month', marked_uncollectible_at) as date) as month_start,
        currency_code,
        'ar_written_off' as metric,
        amount,
        {{ to_usd('amount', 'usd_per_unit') }} as amount_usd
    from written_off

),

nets as (

    -- net = gross - the reversals, document by document (so the USD figures net the same way)
    select
        month_start,
        currency_code,
        case when metric like 'billings%' or metric = 'credit_notes' then 'billings_net' else 'collections_net' end
            as metric,
        case when metric in ('billings', 'collections') then amount else -amount end as amount,
        case when metric in ('billings', 'collections') then amount_usd else -amount_usd end as amount_usd
    from documents
    where metric <> 'ar_written_off'

),

all_documents as (

    select * from documents
    union all
    select * from nets

),

open_ar as (

    select
        month_start,
        currency_code,
        'open_ar' as metric,
        sum(amount_remaining) as amount
    from aging
    group by 1, 2

),

final as (

    {{ kpi_documents_long('all_documents') }}
    union all
    {{ kpi_month_end_long('open_ar', 'months', 'fx') }}

)

select * from final
