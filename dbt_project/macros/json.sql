{# JSON text built with portable SQL (both engines): a quoted, escaped string, or null. chr()
   avoids backslashes in literals, which Snowflake and DuckDB read differently. #}
{% macro json_string(expr) -%}
    case when {{ expr }} is null then 'null' else
        chr(34) || replace(replace(cast({{ expr }} as varchar), chr(92), chr(92) || chr(92)),
            chr(34), chr(92) || chr(34)) || chr(34)
    end
{%- endmacro %}

{# A reference to a NetSuite record: {"id": "<internal id>"} or {"externalId": "<id>"}. #}
{% macro json_ref(internal_id, external_id) -%}
    case
        when {{ internal_id }} is not null
            then '{"id": ' || {{ json_string(internal_id) }} || '}'
        else '{"externalId": ' || {{ json_string(external_id) }} || '}'
    end
{%- endmacro %}
