{# dlt adds a column to a raw table only once some record has a value for it, so a young or
   small landing may lack optional fields (`deleted`, `metadata__...`, `canceled_at`). Staging
   reads every raw column through `raw_column`: the column when landed, else a typed null. #}
{% macro raw_columns(relation) -%}
    {%- if not execute -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set landed = landed_relation(relation) -%}
    {%- if landed is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set names = [] -%}
    {%- for column in adapter.get_columns_in_relation(landed) -%}
        {%- do names.append(column.name | lower) -%}
    {%- endfor -%}
    {#- no columns: the table is not landed yet; read names as written -#}
    {{ return(names if names else none) }}
{%- endmacro %}

{# The landed table behind `relation`. In a unit test `source()` is a CTE over the fixture
   (`__dbt__cte__<source>__<table>`), which dbt builds from the landed table's columns (absent
   columns are absent from the fixture too), so the model must see the same list. The unit test's
   graph holds no sources: the project's sources are named after their schemas (raw_<system>). #}
{% macro landed_relation(relation) -%}
    {%- if relation.type != 'cte' -%}
        {{ return(relation) }}
    {%- endif -%}
    {%- set cte = (relation.identifier | string | lower).replace('__dbt__cte__', '') -%}
    {%- if '__' not in cte -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set parts = cte.split('__', 1) -%}
    {{ return(api.Relation.create(database=target.database, schema=parts[0], identifier=parts[1])) }}
{%- endmacro %}

{% macro raw_column(present, name, data_type) -%}
    {%- if present is none or name in present -%}
        {{ return(name) }}
    {%- else -%}
        {{ return('cast(null as ' ~ data_type ~ ')') }}
    {%- endif -%}
{%- endmacro %}

{# The landed columns whose names start with `prefix` (e.g. `metadata__`), in landed order; an
   empty list when nothing is landed yet. #}
{% macro raw_columns_like(present, prefix) -%}
    {%- set out = [] -%}
    {%- for name in (present or []) -%}
        {%- if name.startswith(prefix) -%}
            {%- do out.append(name) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(out) }}
{%- endmacro %}

{# The Salesforce id a billing record links to, and the landed column it came from: the column
   `configured` names (a var), else the first landed `metadata__*` column whose value is a
   Salesforce id of the object of key `prefix` ('001' Account, '800' Contract). Returns
   {'value': sql, 'column': sql}. #}
{% macro crm_link(present, configured, prefix) -%}
    {%- if configured -%}
        {{ return({
            'value': raw_column(present, configured, 'varchar'),
            'column': "case when " ~ raw_column(present, configured, 'varchar') ~ " is not null then '" ~ configured ~ "' end",
        }) }}
    {%- endif -%}
    {%- set candidates = raw_columns_like(present, 'metadata__') -%}
    {%- if not candidates -%}
        {{ return({'value': 'cast(null as varchar)', 'column': 'cast(null as varchar)'}) }}
    {%- endif -%}
    {%- set value_sql = ['case'] -%}
    {%- set column_sql = ['case'] -%}
    {%- for name in candidates -%}
        {%- set test = is_sf_id('cast(' ~ name ~ ' as varchar)', prefix) -%}
        {%- do value_sql.append('when ' ~ test ~ ' then cast(' ~ name ~ ' as varchar)') -%}
        {%- do column_sql.append('when ' ~ test ~ " then '" ~ name ~ "'") -%}
    {%- endfor -%}
    {%- do value_sql.append('end') -%}
    {%- do column_sql.append('end') -%}
    {{ return({'value': value_sql | join(' '), 'column': column_sql | join(' ')}) }}
{%- endmacro %}
