-- The revenue family of kpi_monthly in long format. Definitions: docs/metrics.md.
with

months as (

    select * from {{ ref('int_months') }}

),

fx as (

    select * from {{ ref('int_fx_rates_daily') }}

),

revenue as (

    select * from {{ ref('int_revenue_recognized_months') }}

),

totals as (

    select
        month_start,
        currency_code,
        'recognized_revenue' as metric,
        recognized_revenue as amount
    from revenue

),

final as (

    {{ kpi_month_end_long('totals', 'months', 'fx') }}

)

select * from final
