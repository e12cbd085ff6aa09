{{ config(materialized='view') }}
-- Evidence per correction (docs/exceptions.md): one row per write attempt of every correction
-- (one row without attempt fields for a correction never attempted), with the exception it
-- answers, the rule that decided it, the values before and after, the approver, the request and
-- the ERP's response, and the verification. A view over the write-back ledger, so it is as fresh
-- as the ledger; before the first write-back it binds to an empty ledger until the next build.
{%- set items = writeback_ledger_relation('items') -%}
{%- set attempts = writeback_ledger_relation('attempts') %}

with

history as (

    select * from {{ ref('recon_exception_history') }}

),

{% if items is not none and attempts is not none %}
items as (

    select * from {{ items }}

),

attempts as (

    select * from {{ attempts }}

),

final as (

    select
        cast(items.correction_id as varchar) as correction_id,
        cast(items.exception_id as varchar) as exception_id,
        cast(coalesce(history.exception_type, items.exception_type) as varchar) as exception_type,
        cast(history.status as varchar) as exception_status,
        history.first_seen_at as exception_first_seen_at,
        history.closed_at as exception_closed_at,
        cast(items.record_type as varchar) as record_type,
        cast(items.erp_id as varchar) as erp_id,
        cast(items.action as varchar) as correction_action,
        cast(items.field as varchar) as field_name,
        cast(items.decision as varchar) as policy_decision,
        cast(items.reason as varchar) as policy_reason,
        cast(items.current_value as varchar) as value_before,
        cast(items.desired_value as varchar) as value_after,
        cast(coalesce(attempts.approver, items.approved_by) as varchar) as approved_by,
        cast(items.approved_at as timestamp) as approved_at,
        cast(attempts.attempt_no as bigint) as attempt_no,
        cast(attempts.method as varchar) as request_method,
        cast(attempts.path as varchar) as request_path,
        cast(attempts.idempotency_key as varchar) as idempotency_key,
        cast(attempts.if_match as varchar) as if_match,
        cast(attempts.before as varchar) as erp_before,
        cast(attempts.after as varchar) as erp_after,
        cast(attempts.result as varchar) as attempt_result,
        cast(attempts.http_status as bigint) as http_status,
        cast(attempts.erp_response as varchar) as erp_response,
        cast(attempts.started_at as timestamp) as attempted_at,
        cast(items.status as varchar) as correction_status,
        cast(items.applied_at as timestamp) as applied_at,
        cast(items.verified_at as timestamp) as verified_at
    from items
    left join attempts on items.correction_id = attempts.correction_id
    left join history on items.exception_id = history.exception_id

)
{% else %}
    final as (

        select
            cast(null as varchar) as correction_id,
            cast(null as varchar) as exception_id,
            cast(null as varchar) as exception_type,
            cast(null as varchar) as exception_status,
            cast(null as timestamp) as exception_first_seen_at,
            cast(null as timestamp) as exception_closed_at,
            cast(null as varchar) as record_type,
            cast(null as varchar) as erp_id,
            cast(null as varchar) as correction_action,
            cast(null as varchar) as field_name,
            cast(null as varchar) as policy_decision,
            cast(null as varchar) as policy_reason,
            cast(null as varchar) as value_before,
            cast(null as varchar) as value_after,
            cast(null as varchar) as approved_by,
            cast(null as timestamp) as approved_at,
            cast(null as bigint) as attempt_no,
            cast(null as varchar) as request_method,
            cast(null as varchar) as request_path,
            cast(null as varchar) as idempotency_key,
            cast(null as varchar) as if_match,
            cast(null as varchar) as erp_before,
            cast(null as varchar) as erp_after,
            cast(null as varchar) as attempt_result,
            cast(null as bigint) as http_status,
            cast(null as varchar) as erp_response,
            cast(null as timestamp) as attempted_at,
            cast(null as varchar) as correction_status,
            cast(null as timestamp) as applied_at,
            cast(null as timestamp) as verified_at
        from history
        where 1 = 0

    )
{% endif %}

select * from final
