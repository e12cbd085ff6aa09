{{ config(materialized='incremental', full_refresh=false) }}
-- The exceptions open when each period was closed: the close team's list as it stood, kept
-- insert-only per close (a reopen and a new close add a new list; --full-refresh keeps them).
with

closes as (

    select * from {{ ref('int_period_closes') }}
    where is_closed

),

exceptions as (

    select * from {{ ref('recon_exceptions') }}

),

final as (

    select
        closes.close_id,
        closes.period_month,
        closes.recorded_at as closed_at,
        exceptions.exception_id,
        exceptions.exception_type,
        exceptions.severity,
        exceptions.crm_id,
        exceptions.billing_id,
        exceptions.erp_id,
        exceptions.field_name,
        exceptions.correct_value,
        exceptions.wrong_value,
        exceptions.currency_code,
        exceptions.amount_delta,
        exceptions.amount_delta_usd,
        exceptions.age_days,
        exceptions.detected_at
    from closes
    cross join exceptions
    {% if is_incremental() %}
        where closes.close_id not in (select distinct close_id from {{ this }})
        {%- if known_as_of() is not none %}
            -- a point-in-time build (var known_as_of) reads the closes, it never freezes
            and false
        {%- endif %}
    {% endif %}

)

select * from final
