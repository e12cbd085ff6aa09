-- Each month's close state from the period log (`closeloop close` / `closeloop reopen`): the
-- latest event decides. A closed month has the close_id whose figures are frozen.
with

events as (

    -- written by `closeloop close` / `reopen` only, created by the on-run-start hook: not a
    -- dbt source, so the asset graph holds no external placeholder
    select * from {{ period_log_relation() }}
    {%- if known_as_of() is not none %}
        -- a point-in-time build (var known_as_of) knows the closes recorded by then
        where recorded_at <= {{ known_as_of_timestamp() }}
    {%- endif %}

),

latest as (

    select
        period_month,
        action,
        close_id,
        actor,
        reason,
        recorded_at
    from events
    qualify row_number() over (partition by period_month order by recorded_at desc) = 1

),

final as (

    select
        cast(period_month as date) as period_month,
        cast(action = 'close' as boolean) as is_closed,
        cast(close_id as varchar) as close_id,
        cast(actor as varchar) as actor,
        cast(reason as varchar) as reason,
        cast(recorded_at as timestamp) as recorded_at
    from latest

)

select * from final
