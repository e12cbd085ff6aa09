{# The only engine-specific SQL of the project, dispatched per adapter. #}

{# Stripe epoch seconds -> UTC timestamp without time zone. #}
{% macro epoch_to_timestamp(col) -%}
    {{ return(adapter.dispatch('epoch_to_timestamp', 'closeloop')(col)) }}
{%- endmacro %}
{% macro default__epoch_to_timestamp(col) -%}
    to_timestamp_ntz({{ col }})
{%- endmacro %}
{% macro duckdb__epoch_to_timestamp(col) -%}
    make_timestamp(cast({{ col }} as bigint) * 1000000)
{%- endmacro %}

{# A timestamp with time zone -> the same instant as a UTC timestamp without time zone. #}
{% macro to_utc(col) -%}
    {{ return(adapter.dispatch('to_utc', 'closeloop')(col)) }}
{%- endmacro %}
{% macro default__to_utc(col) -%}
    cast(convert_timezone('UTC', {{ col }}) as timestamp_ntz)
{%- endmacro %}
{% macro duckdb__to_utc(col) -%}
    timezone('UTC', {{ col }})
{%- endmacro %}

{% macro add_days(col, n) -%}
    {{ return(adapter.dispatch('add_days', 'closeloop')(col, n)) }}
{%- endmacro %}
{% macro default__add_days(col, n) -%}
    dateadd(day, {{ n }}, {{ col }})
{%- endmacro %}
{% macro duckdb__add_days(col, n) -%}
    cast({{ col }} + to_days(cast({{ n }} as integer)) as date)
{%- endmacro %}

{% macro add_months(col, n) -%}
    {{ return(adapter.dispatch('add_months', 'closeloop')(col, n)) }}
{%- endmacro %}
{% macro default__add_months(col, n) -%}
    dateadd(month, {{ n }}, {{ col }})
{%- endmacro %}
{% macro duckdb__add_months(col, n) -%}
    cast({{ col }} + to_months(cast({{ n }} as integer)) as date)
{%- endmacro %}

{% macro days_between(start_col, end_col) -%}
    {{ return(adapter.dispatch('days_between', 'closeloop')(start_col, end_col)) }}
{%- endmacro %}
{% macro default__days_between(start_col, end_col) -%}
    datediff(day, {{ start_col }}, {{ end_col }})
{%- endmacro %}
{% macro duckdb__days_between(start_col, end_col) -%}
    date_diff('day', {{ start_col }}, {{ end_col }})
{%- endmacro %}

{% macro seconds_between(start_col, end_col) -%}
    {{ return(adapter.dispatch('seconds_between', 'closeloop')(start_col, end_col)) }}
{%- endmacro %}
{% macro default__seconds_between(start_col, end_col) -%}
    datediff(second, {{ start_col }}, {{ end_col }})
{%- endmacro %}
{% macro duckdb__seconds_between(start_col, end_col) -%}
    date_diff('second', {{ start_col }}, {{ end_col }})
{%- endmacro %}

{# First days of every month from start to end (inclusive), as a `month_start` column. #}
{% macro month_spine(start_date, end_date) -%}
    {{ return(adapter.dispatch('month_spine', 'closeloop')(start_date, end_date)) }}
{%- endmacro %}
{% macro default__month_spine(start_date, end_date) -%}
    select month_start
    from (
        -- seq4() may skip values: number the generated rows instead
        select
            cast(dateadd(
                month,
                row_number() over (order by seq4()) - 1,
                date_trunc('month', {{ start_date }})
            ) as date) as month_start
        from table(generator(rowcount => 600))
    ) as months
    where month_start <= {{ end_date }}
{%- endmacro %}
{% macro duckdb__month_spine(start_date, end_date) -%}
    select cast(generate_series as date) as month_start
    from generate_series(
        cast(date_trunc('month', {{ start_date }}) as timestamp),
        cast({{ end_date }} as timestamp),
        interval 1 month
    )
{%- endmacro %}

{# A string field of a JSON text column. #}
{% macro json_text(col, path) -%}
    {{ return(adapter.dispatch('json_text', 'closeloop')(col, path)) }}
{%- endmacro %}
{% macro default__json_text(col, path) -%}
    parse_json({{ col }}):{{ path }}::varchar
{%- endmacro %}
{% macro duckdb__json_text(col, path) -%}
    json_extract_string({{ col }}, '$.{{ path }}')
{%- endmacro %}

{# Replace every match of a regular expression. #}
{% macro regexp_replace_all(col, pattern, replacement) -%}
    {{ return(adapter.dispatch('regexp_replace_all', 'closeloop')(col, pattern, replacement)) }}
{%- endmacro %}
{% macro default__regexp_replace_all(col, pattern, replacement) -%}
    regexp_replace({{ col }}, {{ pattern }}, {{ replacement }})
{%- endmacro %}
{% macro duckdb__regexp_replace_all(col, pattern, replacement) -%}
    regexp_replace({{ col }}, {{ pattern }}, {{ replacement }}, 'g')
{%- endmacro %}

{# Exact integer division rounded half away from zero (DuckDB divides decimals as doubles). #}
{% macro div_round(numerator, denominator) -%}
    {{ return(adapter.dispatch('div_round', 'closeloop')(numerator, denominator)) }}
{%- endmacro %}
{% macro default__div_round(numerator, denominator) -%}
    cast(round(cast({{ numerator }} as number(38, 0)) / {{ denominator }}, 0) as bigint)
{%- endmacro %}
{% macro duckdb__div_round(numerator, denominator) -%}
    (case
        when {{ numerator }} >= 0
            then (2 * ({{ numerator }}) + {{ denominator }}) // (2 * {{ denominator }})
        else -((2 * (-({{ numerator }})) + {{ denominator }}) // (2 * {{ denominator }}))
    end)
{%- endmacro %}

{# Concatenate strings of a group in a given order. #}
{% macro string_agg_ordered(expr, separator, order_by) -%}
    {{ return(adapter.dispatch('string_agg_ordered', 'closeloop')(expr, separator, order_by)) }}
{%- endmacro %}
{% macro default__string_agg_ordered(expr, separator, order_by) -%}
    listagg({{ expr }}, {{ separator }}) within group (order by {{ order_by }})
{%- endmacro %}
{% macro duckdb__string_agg_ordered(expr, separator, order_by) -%}
    string_agg({{ expr }}, {{ separator }} order by {{ order_by }})
{%- endmacro %}

{% macro add_seconds(col, n) -%}
    {{ return(adapter.dispatch('add_seconds', 'closeloop')(col, n)) }}
{%- endmacro %}
{% macro default__add_seconds(col, n) -%}
    dateadd(second, {{ n }}, {{ col }})
{%- endmacro %}
{% macro duckdb__add_seconds(col, n) -%}
    ({{ col }} + to_seconds(cast({{ n }} as bigint)))
{%- endmacro %}

{# Every day from start to end (inclusive), as a `date_day` column. #}
{% macro date_spine(start_date, end_date) -%}
    {{ return(adapter.dispatch('date_spine', 'closeloop')(start_date, end_date)) }}
{%- endmacro %}
{% macro default__date_spine(start_date, end_date) -%}
    select date_day
    from (
        -- seq4() may skip values: number the generated rows instead (100 years of days)
        select
            cast(dateadd(
                day,
                row_number() over (order by seq4()) - 1,
                cast({{ start_date }} as date)
            ) as date) as date_day
        from table(generator(rowcount => 36525))
    ) as days
    where date_day <= {{ end_date }}
{%- endmacro %}
{% macro duckdb__date_spine(start_date, end_date) -%}
    select cast(generate_series as date) as date_day
    from generate_series(
        cast(cast({{ start_date }} as date) as timestamp),
        cast(cast({{ end_date }} as date) as timestamp),
        interval 1 day
    )
{%- endmacro %}

{# The first substring matching a regular expression, or null. #}
{% macro regexp_first(col, pattern) -%}
    {{ return(adapter.dispatch('regexp_first', 'closeloop')(col, pattern)) }}
{%- endmacro %}
{% macro default__regexp_first(col, pattern) -%}
    regexp_substr({{ col }}, {{ pattern }})
{%- endmacro %}
{% macro duckdb__regexp_first(col, pattern) -%}
    nullif(regexp_extract({{ col }}, {{ pattern }}), '')
{%- endmacro %}
