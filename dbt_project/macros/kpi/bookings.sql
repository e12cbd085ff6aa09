{# The bookings family of kpi_monthly (models/kpi/families/int_kpi_bookings.sql): net bookings
   and its four parts at the delta (docs/metrics.md, Bookings). #}
{% macro kpi_metrics_bookings() -%}
    {{ return([
        'bookings',
        'bookings_new',
        'bookings_expansion',
        'bookings_contraction',
        'bookings_renewal',
    ]) }}
{%- endmacro %}
