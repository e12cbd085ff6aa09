{# The MRR family of kpi_monthly (models/kpi/families/int_kpi_mrr.sql) and the MRR rules every
   model follows (docs/metrics.md, MRR and ARR). #}
{% macro kpi_metrics_mrr() -%}
    {{ return([
        'mrr', 'mrr_new', 'mrr_expansion', 'mrr_contraction', 'mrr_churn', 'mrr_reactivation',
        'mrr_fx',
    ]) }}
{%- endmacro %}

{# The status rule: does a subscription (a relation with stg_billing__subscriptions' columns)
   count for MRR at instant `at`? Started before it, not ended before it, trial over, and ever
   paid for (never `incomplete`, `incomplete_expired` or `paused`); past_due and unpaid count. #}
{% macro mrr_subscription_counts(subscriptions, at) -%}
    (
        coalesce({{ subscriptions }}.subscription_status, '')
        not in ('incomplete', 'incomplete_expired', 'paused')
        and {{ subscriptions }}.started_at < {{ at }}
        and ({{ subscriptions }}.ended_at is null or {{ subscriptions }}.ended_at >= {{ at }})
        and ({{ subscriptions }}.trial_end_at is null or {{ subscriptions }}.trial_end_at < {{ at }})
    )
{%- endmacro %}

{# Monthly recurring amount, in minor units (an integer, half away from zero), of a period
   amount in minor units of a price recurring every `interval_count` `interval`s, after a
   recurring discount: `percent_off` (null: none) and `amount_off_minor` off each period (null:
   none), never below zero. A month is 1/12 year, 52/12 weeks or 365/12 days. #}
{% macro mrr_monthly_minor(period_minor, interval, interval_count, percent_off='null', amount_off_minor='null') -%}
    {%- set n = 'cast(coalesce(' ~ interval_count ~ ', 1) as bigint)' -%}
    {%- set basis_points = 'cast(round(coalesce(' ~ percent_off ~ ', 0) * 100, 0) as bigint)' -%}
    {%- set numerator -%}
        (greatest(
            cast({{ period_minor }} as bigint) * (10000 - {{ basis_points }})
            - cast(coalesce({{ amount_off_minor }}, 0) as bigint) * 10000,
            0
        ) * case {{ interval }} when 'week' then 52 when 'day' then 365 else 1 end)
    {%- endset -%}
    {%- set denominator -%}
        (10000 * case {{ interval }}
            when 'month' then {{ n }}
            when 'year' then 12 * {{ n }}
            when 'week' then 12 * {{ n }}
            when 'day' then 12 * {{ n }}
        end)
    {%- endset -%}
    {{ div_round(numerator, denominator) }}
{%- endmacro %}
