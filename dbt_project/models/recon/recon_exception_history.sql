{{ config(
    materialized='incremental',
    unique_key='exception_id',
    full_refresh=false,
    on_schema_change='append_new_columns',
) }}
-- Every exception recon has ever listed, kept across runs (docs/exceptions.md): when it was
-- first and last seen (at the recon as-of instant), its owner, and where it is on its path:
-- open -> planned -> awaiting_approval -> applied -> verified_closed, or escalated, or accepted
-- (with who and why), or closed (gone without a correction of ours). Recomputed for every id
-- each run and merged on exception_id; a --full-refresh never forgets it.
with

current_exceptions as (

    select * from {{ ref('recon_exceptions') }}

),

clock as (

    select max(as_of_at) as as_of_at from {{ ref('int_recon_clock') }}

),

previous as (

    {% if is_incremental() %}
        select
            exception_id,
            exception_type,
            crm_id,
            billing_id,
            erp_id,
            currency_code,
            severity,
            amount_delta_usd,
            first_seen_at,
            last_seen_at,
            closed_at,
            is_open,
            reopened_count
        from {{ this }}
    {% else %}
        select
            cast(null as varchar) as exception_id,
            cast(null as varchar) as exception_type,
            cast(null as varchar) as crm_id,
            cast(null as varchar) as billing_id,
            cast(null as varchar) as erp_id,
            cast(null as varchar) as currency_code,
            cast(null as varchar) as severity,
            cast(null as decimal(38, 2)) as amount_delta_usd,
            cast(null as timestamp) as first_seen_at,
            cast(null as timestamp) as last_seen_at,
            cast(null as timestamp) as closed_at,
            cast(null as boolean) as is_open,
            cast(null as bigint) as reopened_count
        where 1 = 0
    {% endif %}

),

ledger_items as (

    {{ writeback_ledger_items() }}

),

ledger as (

    select *
    from ledger_items
    qualify row_number() over (
        partition by exception_id
        order by coalesce(verified_at, applied_at, planned_at) desc nulls last, correction_id
    ) = 1

),

actions as (

    -- written by `closeloop exceptions` only, created by the on-run-start hook
    select * from {{ exception_actions_relation() }}
    {%- if known_as_of() is not none %}
        where recorded_at <= {{ known_as_of_timestamp() }}
    {%- endif %}

),

owners as (

    select
        exception_id,
        owner,
        recorded_at as assigned_at
    from actions
    where action = 'assign'
    qualify row_number() over (partition by exception_id order by recorded_at desc) = 1

),

acceptances as (

    select
        exception_id,
        action,
        actor,
        reason,
        recorded_at
    from actions
    where action in ('accept', 'reopen')
    qualify row_number() over (partition by exception_id order by recorded_at desc) = 1

),

ids as (

    select exception_id from current_exceptions
    union
    select exception_id from previous

),

joined as (

    select
        ids.exception_id,
        coalesce(current_exceptions.exception_type, previous.exception_type) as exception_type,
        coalesce(current_exceptions.crm_id, previous.crm_id) as crm_id,
        coalesce(current_exceptions.billing_id, previous.billing_id) as billing_id,
        coalesce(current_exceptions.erp_id, previous.erp_id) as erp_id,
        coalesce(current_exceptions.currency_code, previous.currency_code) as currency_code,
        coalesce(current_exceptions.severity, previous.severity) as severity,
        coalesce(current_exceptions.amount_delta_usd, previous.amount_delta_usd) as amount_delta_usd,
        current_exceptions.exception_id is not null as is_present,
        coalesce(previous.first_seen_at, clock.as_of_at) as first_seen_at,
        case
            when current_exceptions.exception_id is not null then clock.as_of_at
            else previous.last_seen_at
        end as last_seen_at,
        case
            when current_exceptions.exception_id is null
                then coalesce(previous.closed_at, clock.as_of_at)
        end as closed_at,
        coalesce(previous.reopened_count, 0)
        + case
            when current_exceptions.exception_id is not null and not previous.is_open then 1
            else 0
        end as reopened_count,
        clock.as_of_at,
        ledger.correction_id,
        ledger.status as correction_status,
        ledger.approved_by,
        ledger.applied_at,
        ledger.verified_at,
        owners.owner,
        owners.assigned_at,
        case when acceptances.action = 'accept' then acceptances.actor end as accepted_by,
        case when acceptances.action = 'accept' then acceptances.reason end as accepted_reason,
        case when acceptances.action = 'accept' then acceptances.recorded_at end as accepted_at
    from ids
    cross join clock
    left join current_exceptions on ids.exception_id = current_exceptions.exception_id
    left join previous on ids.exception_id = previous.exception_id
    left join ledger on ids.exception_id = ledger.exception_id
    left join owners on ids.exception_id = owners.exception_id
    left join acceptances on ids.exception_id = acceptances.exception_id

),

final as (

    select
        cast(exception_id as varchar) as exception_id,
        cast(exception_type as varchar) as exception_type,
        cast(crm_id as varchar) as crm_id,
        cast(billing_id as varchar) as billing_id,
        cast(erp_id as varchar) as erp_id,
        cast(currency_code as varchar) as currency_code,
        cast(severity as varchar) as severity,
        cast(amount_delta_usd as decimal(38, 2)) as amount_delta_usd,
        cast(case
            when accepted_by is not null then 'accepted'
            when is_present and correction_status = 'escalated' then 'escalated'
            when is_present and correction_status = 'awaiting_approval' then 'awaiting_approval'
            when is_present and correction_status in ('ready', 'in_flight') then 'planned'
            when is_present and correction_status in ('applied', 'verified') then 'applied'
            when is_present then 'open'
            when correction_status in ('applied', 'verified') then 'verified_closed'
            else 'closed'
        end as varchar) as status,
        cast(is_present as boolean) as is_open,
        cast(first_seen_at as timestamp) as first_seen_at,
        cast(last_seen_at as timestamp) as last_seen_at,
        cast(closed_at as timestamp) as closed_at,
        cast({{ days_between('first_seen_at', 'coalesce(closed_at, as_of_at)') }} as bigint)
            as age_days,
        cast(reopened_count as bigint) as reopened_count,
        cast(owner as varchar) as owner,
        cast(assigned_at as timestamp) as assigned_at,
        cast(accepted_by as varchar) as accepted_by,
        cast(accepted_reason as varchar) as accepted_reason,
        cast(accepted_at as timestamp) as accepted_at,
        cast(correction_id as varchar) as correction_id,
        cast(correction_status as varchar) as correction_status,
        cast(approved_by as varchar) as approved_by,
        cast(applied_at as timestamp) as applied_at,
        cast(verified_at as timestamp) as verified_at
    from joined
    {%- if known_as_of() is not none and is_incremental() %}
        -- a point-in-time build (var known_as_of) reads the history, it never writes it
        where false
    {%- endif %}

)

select * from final
