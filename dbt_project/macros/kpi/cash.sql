{# The cash family of kpi_monthly (models/kpi/families/int_kpi_cash.sql); definitions in
   docs/metrics.md (Billings, Collections, Open AR, aging and DSO). #}
{% macro kpi_metrics_cash() -%}
    {{ return([
        'billings', 'billings_voided', 'credit_notes', 'billings_net',
        'collections', 'refunds', 'collections_net',
        'open_ar', 'ar_written_off',
    ]) }}
{%- endmacro %}
