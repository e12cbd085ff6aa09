-- Each closed month's figures as reported at its close beside the same figures as restated by
-- the latest build, per currency and metric, with the difference (docs/close.md).
with

closes as (

    select * from {{ ref('int_period_closes') }}
    where is_closed

),

frozen as (

    select * from {{ ref('frozen_kpi_values') }}

),

current_values as (

    {{ kpi_monthly_long(ref('kpi_monthly'), 'month_start in (select period_month from closes)') }}

),

reported as (

    select frozen.*
    from frozen
    inner join closes on frozen.close_id = closes.close_id

),

paired as (

    select
        coalesce(reported.month_start, current_values.month_start) as month_start,
        coalesce(reported.currency_code, current_values.currency_code) as currency_code,
        coalesce(reported.metric, current_values.metric) as metric,
        reported.metric_value as as_reported,
        current_values.metric_value as restated
    from reported
    full outer join current_values
        on
            reported.month_start = current_values.month_start
            and reported.currency_code = current_values.currency_code
            and reported.metric = current_values.metric

),

final as (

    select
        paired.month_start,
        cast(paired.currency_code as varchar) as currency_code,
        cast(paired.metric as varchar) as metric,
        closes.close_id,
        closes.recorded_at as closed_at,
        paired.as_reported,
        paired.restated,
        cast(coalesce(paired.restated, 0) - coalesce(paired.as_reported, 0) as decimal(38, 4))
            as difference,
        {{ values_differ('paired.as_reported', 'paired.restated') }} as is_restated
    from paired
    inner join closes on paired.month_start = closes.period_month

)

select * from final
