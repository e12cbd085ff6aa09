{# The cash family of kpi_monthly (models/kpi/families/int_kpi_cash.sql). #}
{% macro kpi_metrics_cash() -%}
    {{ return(['billings', 'credit_notes', 'collections', 'refunds', 'open_ar']) }}
{%- endmacro %}
