{# dlt adds a column to a raw table only once some record has a value for it, so a young or
   small landing may lack optional fields (`deleted`, `metadata__...`, `canceled_at`). Staging
   reads every raw column through `raw_column`: the column when landed, else a typed null. #}
{% macro raw_columns(relation) -%}
    {%- if execute -%}
        {%- set names = [] -%}
        {%- for column in adapter.get_columns_in_relation(relation) -%}
            {%- do names.append(column.name | lower) -%}
        {%- endfor -%}
        {#- no columns: not a landed table (a unit test's fixture): read names as written -#}
        {{ return(names if names else none) }}
    {%- else -%}
        {{ return(none) }}
    {%- endif -%}
{%- endmacro %}

{% macro raw_column(present, name, data_type) -%}
    {%- if present is none or name in present -%}
        {{ return(name) }}
    {%- else -%}
        {{ return('cast(null as ' ~ data_type ~ ')') }}
    {%- endif -%}
{%- endmacro %}
