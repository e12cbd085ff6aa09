-- The cash family of kpi_monthly in long format: billings, credit notes, collections and
-- refunds by document month, open AR at each month end. Definitions: docs/metrics.md.
with

months as (

    select * from {{ ref('int_months') }}

),

fx as (

    select * from {{ ref('int_fx_rates_daily') }}

),

invoices as (

    select * from {{ ref('fct_invoice') }}

),

credit_notes as (

    select * from {{ ref('fct_credit_note') }}

),

payments as (

    select * from {{ ref('fct_payment') }}

),

refunds as (

    select * from {{ ref('stg_billing__refunds') }}

),

documents as (

    select
        cast(date_trunc('month', finalized_at) as date) as month_start,
        currency_code,
        'billings' as metric,
        total as amount,
        total_usd as amount_usd
    from invoices
    where invoice_status <> 'void'
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
    where refunds.refund_status = 'succeeded'

),

open_ar as (

    select
        months.month_start,
        invoices.currency_code,
        'open_ar' as metric,
        sum(invoices.total) as amount
    from invoices
    inner join months
        on
            invoices.finalized_at < months.month_end_at
            and (invoices.paid_at is null or invoices.paid_at >= months.month_end_at)
            and (invoices.voided_at is null or invoices.voided_at >= months.month_end_at)
            and (
                invoices.marked_uncollectible_at is null
                or invoices.marked_uncollectible_at >= months.month_end_at
            )
    group by 1, 2

),

final as (

    {{ kpi_documents_long('documents') }}
    union all
    {{ kpi_month_end_long('open_ar', 'months', 'fx') }}

)

select * from final
