{# The settlement window of each exception type, in hours (var `settlement_window_hours`,
   docs/exceptions.md "Timing"): a discrepancy younger than its type's window is in transit
   (recon_in_transit), not an exception. A type the var does not name has no window (0). #}
{% macro settlement_window_hours(exception_type) -%}
    {{ return((var('settlement_window_hours', {}) or {}).get(exception_type, 0) | int) }}
{%- endmacro %}

{% macro settlement_windows() -%}
    {%- for t in exception_types() %}
    select
        '{{ t }}' as exception_type,
        cast({{ settlement_window_hours(t) }} as bigint) as window_hours
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
{%- endmacro %}
