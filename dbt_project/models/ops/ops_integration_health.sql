-- How the integration is doing, one row per measure: open exceptions by type, severity and age
-- band; billing-to-ERP sync latency of the postings; and the freshness of each raw source.
with

exceptions as (

    select * from {{ ref('recon_exceptions') }}

),

invoices as (

    select * from {{ ref('stg_billing__invoices') }}

),

erp_invoices as (

    select * from {{ ref('int_erp_invoices') }}

),

clock as (

    select * from {{ ref('int_recon_clock') }}

),

open_exceptions as (

    select
        'open_exceptions' as measure,
        exception_type as dimension,
        severity,
        case
            when age_days <= 1 then '0-1d'
            when age_days <= 7 then '2-7d'
            when age_days <= 30 then '8-30d'
            else '>30d'
        end as age_band,
        cast(count(*) as decimal(38, 2)) as value,
        cast(sum(abs(amount_delta_usd)) as decimal(38, 2)) as amount_usd,
        max(as_of_at) as measured_at
    from exceptions
    group by 1, 2, 3, 4

),

latencies as (

    select
        {{ seconds_between('invoices.finalized_at', 'erp_invoices.created_at') }} / 60.0
            as latency_minutes
    from invoices
    inner join erp_invoices
        on
            invoices.invoice_id = erp_invoices.billing_invoice_id
            and erp_invoices.is_primary_posting

),

latency_stats as (

    select
        percentile_cont(0.5) within group (order by latency_minutes) as p50,
        percentile_cont(0.95) within group (order by latency_minutes) as p95,
        max(latency_minutes) as max_minutes
    from latencies

),

sync_latency as (

    {%- for statistic, column in [('p50', 'p50'), ('p95', 'p95'), ('max', 'max_minutes')] %}
        select
            'billing_to_erp_sync_latency_minutes' as measure,
            '{{ statistic }}' as dimension,
            cast(null as varchar) as severity,
            cast(null as varchar) as age_band,
            cast(round(latency_stats.{{ column }}, 2) as decimal(38, 2)) as value,
            cast(null as decimal(38, 2)) as amount_usd,
            clock.as_of_at as measured_at
        from latency_stats
        cross join clock
        {% if not loop.last %}union all{% endif %}
    {%- endfor %}

),

source_freshness as (

    {%- set sources = [
        ('raw_crm', 'stg_crm__opportunities', 'system_modstamp_at'),
        ('raw_billing', 'stg_billing__events', 'created_at'),
        ('raw_erp', 'stg_erp__transactions', 'last_modified_at'),
    ] %}
    {%- for name, model, column in sources %}
        select
            'source_freshness_hours' as measure,
            '{{ name }}' as dimension,
            cast(null as varchar) as severity,
            cast(null as varchar) as age_band,
            cast(
                {{ seconds_between('max(src.' ~ column ~ ')', 'max(clock.as_of_at)') }} / 3600.0
                as decimal(38, 2)
            ) as value,
            cast(null as decimal(38, 2)) as amount_usd,
            max(clock.as_of_at) as measured_at
        from {{ ref(model) }} as src
        cross join clock
        {% if not loop.last %}union all{% endif %}
    {%- endfor %}

),

final as (

    select * from open_exceptions
    union all
    select * from sync_latency
    union all
    select * from source_freshness

)

select
    {{ surrogate_key(['measure', 'dimension', 'severity', 'age_band']) }} as health_metric_id,
    *
from final
