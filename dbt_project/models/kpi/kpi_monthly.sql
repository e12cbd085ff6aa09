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
    {%- do all_currency_columns.append('cast(null as decimal(38, 3)) as ' ~ m) -%}
    {%- do all_currency_columns.append('sum(' ~ m ~ '_usd) as ' ~ m ~ '_usd') -%}
{%- endfor -%}
{%- do per_currency_columns.append('cast(coalesce(sum(long.usd_missing_count), 0) as bigint) as usd_missing_count') -%}
{%- do all_currency_columns.append('cast(sum(usd_missing_count) as bigint) as usd_missing_count') -%}

-- Monthly KPIs per transaction currency and for all currencies (`currency_code = 'ALL'`, USD
-- only). Definitions: docs/metrics.md. Each KPI family (bookings, cash, revenue, MRR) is a
-- long-format model in models/kpi/families/ whose metrics macros/kpi/<family>.sql lists; this
-- model pivots them and joins the families' ratios. Document metrics in USD are the sum of each
-- document at the ERP rate of its UTC date; month-end metrics convert the currency's month total
-- at the rate of the month's last day. A currency without a rate for a date keeps its rows: its
-- amounts count in the transaction-currency figures, the USD figures exclude them, and
-- `usd_missing_count` says how many (each listed in ops.dq_issues).

with

months as (

    select * from {{ ref('int_months') }}

),

fx as (

    select * from {{ ref('int_fx_rates_daily') }}

),

long as (

    select * from {{ ref('int_kpi_bookings') }}
    union all
    select * from {{ ref('int_kpi_cash') }}
    union all
    select * from {{ ref('int_kpi_revenue') }}
    union all
    select * from {{ ref('int_kpi_mrr') }}

),

cash_ratios as (

    select * from {{ ref('int_kpi_cash_ratios') }}

),

bookings_ratios as (

    select * from {{ ref('int_kpi_bookings_ratios') }}

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
        cast(unioned.mrr * 12 as decimal(38, 3)) as arr,
        cast(unioned.mrr_usd * 12 as decimal(38, 2)) as arr_usd,
        bookings_ratios.net_revenue_retention,
        bookings_ratios.gross_revenue_retention,
        bookings_ratios.customers,
        bookings_ratios.customers_new,
        bookings_ratios.customers_churned,
        cash_ratios.days_sales_outstanding
    from unioned
    left join bookings_ratios
        on
            unioned.month_start = bookings_ratios.month_start
            and unioned.currency_code = bookings_ratios.currency_code
    left join cash_ratios
        on
            unioned.month_start = cash_ratios.month_start
            and unioned.currency_code = cash_ratios.currency_code

)

select * from final
