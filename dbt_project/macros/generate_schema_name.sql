{# Layers land in schemas named after themselves (core, recon, ...), on every target, so
   consumers such as reverse ETL read `writeback.erp_corrections` without knowing the target. #}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
