{{ config(materialized='incremental', full_refresh=false) }}
-- kpi_monthly's figures of each closed month as they were when it was closed, one row per
-- close, currency and metric. Insert-only: a close is frozen once, by the first build after it
-- (`closeloop close` runs that build), and `--full-refresh` never rebuilds it.
with

closes as (

    select * from {{ ref('int_period_closes') }}
    where is_closed

),

kpis as (

    {{ kpi_monthly_long(ref('kpi_monthly'), 'true') }}

),

final as (

    select
        closes.close_id,
        closes.recorded_at as closed_at,
        kpis.month_start,
        kpis.currency_code,
        kpis.metric,
        kpis.metric_value
    from kpis
    inner join closes on kpis.month_start = closes.period_month
    {% if is_incremental() %}
        where closes.close_id not in (select distinct close_id from {{ this }})
        {%- if known_as_of() is not none %}
            -- a point-in-time build (var known_as_of) reads the closes, it never freezes
            and false
        {%- endif %}
    {% endif %}

)

select * from final
