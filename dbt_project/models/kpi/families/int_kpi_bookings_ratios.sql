-- Retention and customer counts, one row per month and currency (and ALL, in USD): net and gross
-- revenue retention over a trailing 12 months, customers live at the month end, new customers and
-- logo churn, at the canonical customer. Definitions: docs/metrics.md, "Retention and customers".
with

months as (

    select * from {{ ref('int_months') }}

),

fx as (

    select * from {{ ref('int_fx_rates_daily') }}

),

mrr as (

    select * from {{ ref('int_mrr_customer_months') }}

),

customer_months as (

    -- the canonical customer's MRR (its Stripe customers summed, int_mrr_customer_months'
    -- customer_id); it is live in a currency at a month end when its MRR there is positive
    select
        month_start,
        customer_id,
        currency_code,
        sum(mrr_amount) as mrr_amount
    from mrr
    group by 1, 2, 3
    having sum(mrr_amount) > 0

),

month_pairs as (

    -- each month with the month 12 months earlier, when the history reaches back that far
    select
        months.month_start,
        months.rate_date,
        cohort_month.month_start as cohort_month_start
    from months
    inner join months as cohort_month
        on cohort_month.month_start = {{ add_months('months.month_start', -12) }}

),

cohort_sides as (

    select
        month_pairs.month_start,
        month_pairs.rate_date,
        then_live.customer_id,
        then_live.currency_code,
        then_live.mrr_amount as mrr_then,
        coalesce(now_live.mrr_amount, 0) as mrr_now
    from month_pairs
    inner join customer_months as then_live
        on month_pairs.cohort_month_start = then_live.month_start
    left join customer_months as now_live
        on
            month_pairs.month_start = now_live.month_start
            and then_live.customer_id = now_live.customer_id
            and then_live.currency_code = now_live.currency_code

),

retention_per_currency as (

    select
        month_start,
        currency_code,
        sum(mrr_then) as mrr_then,
        sum(mrr_now) as mrr_now,
        sum(case when mrr_now < mrr_then then mrr_now else mrr_then end) as mrr_kept
    from cohort_sides
    group by 1, 2

),

all_sides as (

    -- for ALL: a cohort customer's MRR in every currency, then and now, at month M's rate
    select
        month_pairs.month_start,
        month_pairs.rate_date,
        then_live.customer_id,
        then_live.currency_code,
        then_live.mrr_amount as mrr_then,
        0 as mrr_now
    from month_pairs
    inner join customer_months as then_live
        on month_pairs.cohort_month_start = then_live.month_start
    union all
    select
        month_pairs.month_start,
        month_pairs.rate_date,
        now_live.customer_id,
        now_live.currency_code,
        0 as mrr_then,
        now_live.mrr_amount as mrr_now
    from month_pairs
    inner join customer_months as now_live
        on month_pairs.month_start = now_live.month_start

),

all_customers_usd as (

    select
        all_sides.month_start,
        all_sides.customer_id,
        max(case when all_sides.mrr_then > 0 then 1 else 0 end) as in_cohort,
        sum({{ to_usd('all_sides.mrr_then', 'fx.usd_per_unit') }}) as mrr_then_usd,
        sum({{ to_usd('all_sides.mrr_now', 'fx.usd_per_unit') }}) as mrr_now_usd,
        sum(case when fx.usd_per_unit is null then 1 else 0 end) as missing_rates
    from all_sides
    left join fx
        on
            all_sides.currency_code = fx.currency_code
            and all_sides.rate_date = fx.rate_date
    group by 1, 2

),

retention_all as (

    select
        month_start,
        'ALL' as currency_code,
        sum(mrr_then_usd) as mrr_then,
        sum(mrr_now_usd) as mrr_now,
        sum(case when mrr_now_usd < mrr_then_usd then mrr_now_usd else mrr_then_usd end) as mrr_kept,
        sum(missing_rates) as missing_rates
    from all_customers_usd
    where in_cohort = 1
    group by 1

),

retention as (

    select
        month_start,
        currency_code,
        mrr_then,
        mrr_now,
        mrr_kept,
        0 as missing_rates
    from retention_per_currency
    union all
    select * from retention_all

),

live as (

    -- customers live per currency, and (ALL) in any currency
    select distinct
        month_start,
        customer_id,
        currency_code
    from customer_months
    union all
    select distinct
        month_start,
        customer_id,
        'ALL' as currency_code
    from customer_months

),

firsts as (

    select
        customer_id,
        currency_code,
        min(month_start) as first_month_start
    from live
    group by 1, 2

),

churned as (

    select
        months.month_start,
        previous_live.currency_code,
        count(*) as customers_churned
    from months
    inner join live as previous_live
        on previous_live.month_start = {{ add_months('months.month_start', -1) }}
    left join live as now_live
        on
            months.month_start = now_live.month_start
            and previous_live.customer_id = now_live.customer_id
            and previous_live.currency_code = now_live.currency_code
    where now_live.customer_id is null
    group by 1, 2

),

counts as (

    select
        live.month_start,
        live.currency_code,
        count(*) as customers,
        sum(case when live.month_start = firsts.first_month_start then 1 else 0 end) as customers_new
    from live
    inner join firsts
        on
            live.customer_id = firsts.customer_id
            and live.currency_code = firsts.currency_code
    group by 1, 2

),

currencies as (

    -- every currency kpi_monthly shows (a rate or a customer), and ALL
    select currency_code from fx
    union
    select currency_code from customer_months
    union
    select 'ALL' as currency_code

),

final as (

    select
        months.month_start,
        cast(currencies.currency_code as varchar) as currency_code,
        cast(case
            when retention.mrr_then > 0 and retention.missing_rates = 0
                then round(retention.mrr_now / retention.mrr_then, 4)
        end as decimal(10, 4)) as net_revenue_retention,
        cast(case
            when retention.mrr_then > 0 and retention.missing_rates = 0
                then round(retention.mrr_kept / retention.mrr_then, 4)
        end as decimal(10, 4)) as gross_revenue_retention,
        cast(coalesce(counts.customers, 0) as bigint) as customers,
        cast(coalesce(counts.customers_new, 0) as bigint) as customers_new,
        cast(coalesce(churned.customers_churned, 0) as bigint) as customers_churned
    from months
    cross join currencies
    left join retention
        on
            months.month_start = retention.month_start
            and currencies.currency_code = retention.currency_code
    left join counts
        on
            months.month_start = counts.month_start
            and currencies.currency_code = counts.currency_code
    left join churned
        on
            months.month_start = churned.month_start
            and currencies.currency_code = churned.currency_code

)

select * from final
