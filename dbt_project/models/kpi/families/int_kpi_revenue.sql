-- The revenue family of kpi_monthly in long format: recognized revenue of the month, deferred
-- revenue (contract liability) and unbilled revenue (contract asset) at the month end, each line
-- in USD at its invoice date's rate. Definitions: docs/metrics.md, "Recognized and deferred
-- revenue".
with

months as (

    select * from {{ ref('int_months') }}

),

schedule as (

    select * from {{ ref('int_revenue_recognized_months') }}

),

reported as (

    select schedule.*
    from schedule
    inner join months on schedule.month_start = months.month_start

),

figures as (

    select
        month_start,
        currency_code,
        'recognized_revenue' as metric,
        recognized as amount,
        recognized_usd as amount_usd,
        usd_per_unit
    from reported
    union all
    select
        month_start,
        currency_code,
        'deferred_revenue' as metric,
        deferred_revenue as amount,
        deferred_revenue_usd as amount_usd,
        usd_per_unit
    from reported
    union all
    select
        month_start,
        currency_code,
        'unbilled_revenue' as metric,
        unbilled_revenue as amount,
        unbilled_revenue_usd as amount_usd,
        usd_per_unit
    from reported

),

final as (

    select
        month_start,
        cast(currency_code as varchar) as currency_code,
        cast(metric as varchar) as metric,
        cast(sum(amount) as decimal(38, 3)) as amount,
        cast(sum(amount_usd) as decimal(38, 2)) as amount_usd,
        cast(sum(case when usd_per_unit is null and amount <> 0 then 1 else 0 end) as bigint)
            as usd_missing_count
    from figures
    group by 1, 2, 3

)

select * from final
