{% set per_currency_columns = [] -%}
{%- set all_currency_columns = [] -%}
{%- for m in kpi_metrics() -%}
    {%- do per_currency_columns.append(
        "coalesce(sum(case when long.metric = '" ~ m ~ "' then long.amount end), 0) as " ~ m
    ) -%}
    {%- do per_currency_columns.append(
        "coalesce(sum(case when long.metric = '" ~ m ~ "' then long.amount_usd end), 0) as "
        ~ m ~ "_usd"
    ) -%}
    {%- do all_currency_columns.append('cast(null as decimal(38, 2)) as ' ~ m) -%}
    {%- do all_currency_columns.append('sum(' ~ m ~ '_usd) as ' ~ m ~ '_usd') -%}
{%- endfor -%}
{%- do per_currency_columns.append('cast(coalesce(sum(long.usd_missing_count), 0) as bigint) as usd_missing_count') -%}
{%- do all_currency_columns.append('cast(sum(usd_missing_count) as bigint) as usd_missing_count') -%}

-- Monthly KPIs per transaction currency and for all currencies (`currency_code = 'ALL'`, USD
-- only). Definitions: docs/models.md. Document metrics in USD are the sum of each document at
-- the ERP rate of its UTC date; month-end metrics convert the currency's month total at the
-- rate of the month's last day. A currency without a rate for a date keeps its rows: its
-- amounts count in the transaction-currency figures, the USD figures exclude them, and
-- `usd_missing_count` says how many (each listed in ops.dq_issues).

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

opportunities as (

    select * from {{ ref('stg_crm__opportunities') }}

),

movements as (

    select * from {{ ref('mrr_movements') }}

),

revenue as (

    select * from {{ ref('int_revenue_recognized_months') }}

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
    union all
    select
        cast(date_trunc('month', opportunities.close_date) as date) as month_start,
        opportunities.currency_code,
        'bookings' as metric,
        opportunities.amount,
        {{ to_usd('opportunities.amount', 'fx.usd_per_unit') }} as amount_usd
    from opportunities
    left join fx
        on
            opportunities.currency_code = fx.currency_code
            and opportunities.close_date = fx.rate_date
    where opportunities.is_won

),

document_totals as (

    select
        month_start,
        currency_code,
        metric,
        sum(amount) as amount,
        sum(amount_usd) as amount_usd,
        sum(case when amount_usd is null and amount <> 0 then 1 else 0 end) as usd_missing_count
    from documents
    group by 1, 2, 3

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

movement_totals as (

    select
        month_start,
        currency_code,
        'mrr' as metric,
        sum(mrr_amount) as amount
    from movements
    group by 1, 2
    union all
    select
        month_start,
        currency_code,
        'mrr_' || movement_type as metric,
        sum(movement_amount) as amount
    from movements
    where movement_type is not null
    group by 1, 2, 3

),

month_end_totals as (

    select * from open_ar
    union all
    select * from movement_totals
    union all
    select
        month_start,
        currency_code,
        'recognized_revenue' as metric,
        recognized_revenue as amount
    from revenue

),

month_end_converted as (

    select
        month_end_totals.month_start,
        month_end_totals.currency_code,
        month_end_totals.metric,
        month_end_totals.amount,
        {{ to_usd('month_end_totals.amount', 'fx.usd_per_unit') }} as amount_usd,
        case when fx.usd_per_unit is null and month_end_totals.amount <> 0 then 1 else 0 end
            as usd_missing_count
    from month_end_totals
    inner join months on month_end_totals.month_start = months.month_start
    left join fx
        on
            month_end_totals.currency_code = fx.currency_code
            and months.rate_date = fx.rate_date

),

long as (

    select * from document_totals
    union all
    select * from month_end_converted

),

currencies as (

    -- every currency with a rate or a figure: one without a rate is kept, not dropped
    select currency_code from fx
    union
    select currency_code from long
    where currency_code is not null

),

per_currency as (

    select
        months.month_start,
        currencies.currency_code,
        {{ per_currency_columns | join(',\n        ') }}
    from months
    cross join currencies
    left join long
        on
            months.month_start = long.month_start
            and currencies.currency_code = long.currency_code
    group by 1, 2

),

all_currencies as (

    select
        month_start,
        'ALL' as currency_code,
        {{ all_currency_columns | join(',\n        ') }}
    from per_currency
    group by 1

),

unioned as (

    select * from per_currency
    union all
    select * from all_currencies

),

final as (

    select
        unioned.*,
        cast(unioned.mrr * 12 as decimal(38, 2)) as arr,
        cast(unioned.mrr_usd * 12 as decimal(38, 2)) as arr_usd,
        -- net revenue retention over the month: what last month's MRR became
        cast(case
            when lag(unioned.mrr_usd) over (partition by unioned.currency_code order by unioned.month_start) > 0
                then round(
                    (
                        lag(unioned.mrr_usd) over (partition by unioned.currency_code order by unioned.month_start)
                        + unioned.mrr_expansion_usd + unioned.mrr_contraction_usd + unioned.mrr_churn_usd
                    )
                    / lag(unioned.mrr_usd) over (partition by unioned.currency_code order by unioned.month_start),
                    4
                )
        end as decimal(10, 4)) as net_revenue_retention,
        -- days sales outstanding: month-end receivables over the month's billings per day
        cast(case
            when unioned.billings_usd > 0
                then round(
                    unioned.open_ar_usd / unioned.billings_usd
                    * {{ days_between('unioned.month_start', add_months('unioned.month_start', 1)) }},
                    1
                )
        end as decimal(10, 1)) as days_sales_outstanding
    from unioned

)

select * from final
