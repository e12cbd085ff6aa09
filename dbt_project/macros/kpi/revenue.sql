{# The revenue family of kpi_monthly (models/kpi/families/int_kpi_revenue.sql). Definitions:
   docs/metrics.md, "Recognized and deferred revenue". #}
{% macro kpi_metrics_revenue() -%}
    {{ return(['recognized_revenue', 'deferred_revenue', 'unbilled_revenue']) }}
{%- endmacro %}

{# Minor units per major unit of a currency (ISO 4217 exponent: 1, 100 or 1000). #}
{% macro minor_units_per_major(currency) -%}
    (case {{ currency_exponent(currency) }} when 0 then 1 when 3 then 1000 else 100 end)
{%- endmacro %}

{# The sum of an integer field over the objects of a JSON array held as text (Stripe's
   `discount_amounts`: [{"amount": 120, "discount": "di_..."}]); 0 for null or []. #}
{% macro json_array_sum(col, field) -%}
    {{ return(adapter.dispatch('json_array_sum', 'closeloop')(col, field)) }}
{%- endmacro %}
{% macro default__json_array_sum(col, field) -%}
    (
        select coalesce(sum(elements.value:{{ field }}::number), 0)
        from table(flatten(input => parse_json({{ col }}))) as elements
    )
{%- endmacro %}
{% macro duckdb__json_array_sum(col, field) -%}
    coalesce(list_sum(cast(json_extract({{ col }}, '$[*].{{ field }}') as bigint[])), 0)
{%- endmacro %}

{# The cumulative share, in minor units, of `amount_minor` after `elapsed` of `total` units
   (days of a service period, amounts of an invoice's lines), rounded half away from zero:
   the difference of two consecutive such figures is a part, and the parts add up to the whole
   (cumulative rounding, docs/metrics.md). #}
{% macro cumulative_share(amount_minor, elapsed, total) -%}
    {{ div_round('cast(' ~ amount_minor ~ ' as bigint) * cast(' ~ elapsed ~ ' as bigint)', 'cast(' ~ total ~ ' as bigint)') }}
{%- endmacro %}
