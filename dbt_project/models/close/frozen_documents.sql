{{ config(materialized='incremental', full_refresh=false) }}
-- The documents each closed month's KPIs counted when it was closed (kpi_documents_sql), so a
-- later restatement names the documents that changed. Insert-only, like frozen_kpi_values.
with

closes as (

    select * from {{ ref('int_period_closes') }}
    where is_closed

),

documents as (

    {{ kpi_documents_sql() }}

),

final as (

    select
        closes.close_id,
        closes.recorded_at as closed_at,
        documents.*
    from documents
    inner join closes on documents.month_start = closes.period_month
    {% if is_incremental() %}
        where closes.close_id not in (select distinct close_id from {{ this }})
        {%- if known_as_of() is not none %}
            -- a point-in-time build (var known_as_of) reads the closes, it never freezes
            and false
        {%- endif %}
    {% endif %}

)

select * from final
