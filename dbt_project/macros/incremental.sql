{# Incremental models rebuilt from what changed since their last build (docs/models.md,
   "Incremental models").

   Such a model is `materialized='incremental'`, `incremental_strategy='delete+insert'` with a
   `unique_key`, and declares

       pre_hook="{{ incremental_changes('<key column>', '<changes macro>', ['billing', 'erp']) }}",
       post_hook="{{ incremental_changes_done() }}",

   where `<changes macro>` returns a query of the keys to rebuild (one varchar column,
   `change_key`): keys of source records the vendors changed since the last build (their change
   streams: Stripe's events and `created`, NetSuite's `lastmodifieddate`, compared with
   `incremental_since(stream)`), keys whose looked-up values (customer, FX rate, product code)
   differ from what the target holds, and keys the target holds whose source record is gone
   (deletes).

   Before the model's query runs, the hook
   1. reads the newest stamp of each change stream it reads (`incremental_stream_newest`),
   2. appends the keys to rebuild to `intermediate.<model>__changes` (keys a failed run left
      there stay until a run succeeds),
   3. deletes the target's rows of those keys, so a key whose records are gone, or no longer
      pass the model's filters, leaves the target; and records the stamps of step 1.
   The model's query builds only the keys in `incremental_changed_keys()` (every key on a full
   refresh or a first build); dbt's delete+insert inserts them; then the changes table is
   emptied. Plain SQL through `run_query`: the same on DuckDB and Snowflake. #}

{# Each change stream: the SQL of its newest stamp (a timestamp), run only for the streams
   a model reads (`streams`), which it declares: `-- depends_on: {{ ref('stg_billing__events') }}`
   (billing), `{{ ref('stg_erp__transactions') }}` (erp). #}
{% macro incremental_stream_newest(stream) -%}
    {%- if stream == 'billing' -%}
        select max(created_at) from {{ ref('stg_billing__events') }}
    {%- elif stream == 'erp' -%}
        select max(last_modified_at) from {{ ref('stg_erp__transactions') }}
    {%- else -%}
        {{ exceptions.raise_compiler_error("unknown change stream " ~ stream) }}
    {%- endif -%}
{%- endmacro %}

{# Each model keeps its watermarks in a table of its own (`intermediate.<model>__state`): two
   incremental models building at once on two threads would otherwise write one table in two
   transactions, which DuckDB refuses (a catalog write-write conflict). #}
{% macro incremental_state_relation() -%}
    {{ return(api.Relation.create(
        database=this.database, schema=generate_schema_name('intermediate', none) | trim,
        identifier=this.identifier ~ '__state'
    )) }}
{%- endmacro %}

{% macro incremental_changes_relation() -%}
    {{ return(api.Relation.create(
        database=this.database, schema=generate_schema_name('intermediate', none) | trim,
        identifier=this.identifier ~ '__changes'
    )) }}
{%- endmacro %}

{# The keys this build rebuilds, as a subquery (only on an incremental build). #}
{% macro incremental_changed_keys() -%}
    (select change_key from {{ incremental_changes_relation() }})
{%- endmacro %}

{# The stamp from which `stream` is read again: the newest one the last build of this model
   saw, less `incremental_lookback_hours`; the beginning of time when none was recorded. #}
{% macro incremental_since(stream) -%}
    {%- set found = run_query(
        "select watermark from " ~ incremental_state_relation() ~ " where model_name = '"
        ~ this.identifier ~ "' and stream_name = '" ~ stream ~ "'"
    ) if execute else none -%}
    {%- set mark = found.columns[0].values()[0] if found and found.rows | length > 0 else none -%}
    {%- set hours = var('incremental_lookback_hours') | int -%}
    {%- if mark -%}
        {{ add_seconds("cast('" ~ mark ~ "' as timestamp)", -hours * 3600) }}
    {%- else -%}
        cast('1900-01-01' as timestamp)
    {%- endif -%}
{%- endmacro %}

{# Ids of Stripe objects of `object_types` (e.g. ['invoice']) created or changed (an event)
   since the last build. #}
{% macro incremental_billing_changes(object_types) -%}
    {%- set since = incremental_since('billing') -%}
    select cast(object_id as varchar) as change_key
    from {{ ref('stg_billing__events') }}
    where
        created_at >= {{ since }}
        and object_type in ('{{ object_types | join("', '") }}')
{%- endmacro %}

{% macro incremental_changes(key, changes_macro, streams=['billing']) -%}
    {%- if execute -%}
        {%- set state = incremental_state_relation() -%}
        {%- set changes = incremental_changes_relation() -%}
        {%- do adapter.create_schema(state) -%}
        {%- do run_query(
            "create table if not exists " ~ state
            ~ " (model_name varchar, stream_name varchar, watermark varchar, recorded_at timestamp)"
        ) -%}
        {%- do run_query("create table if not exists " ~ changes ~ " (change_key varchar)") -%}
        {#- the newest stamp of each stream, read before any change is -#}
        {%- set newest = {} -%}
        {%- for stream in streams -%}
            {%- set row = run_query(incremental_stream_newest(stream)) -%}
            {%- set value = row.columns[0].values()[0] -%}
            {%- do newest.update({stream: '' if value is none else (value | string)}) -%}
        {%- endfor -%}
        {%- if is_incremental() -%}
            {%- do run_query("insert into " ~ changes ~ " select distinct change_key from ("
                ~ context[changes_macro]() ~ ") as changed where change_key is not null") -%}
            {%- do run_query(
                "delete from " ~ this ~ " where " ~ key ~ " in (select change_key from "
                ~ changes ~ ")"
            ) -%}
        {%- else -%}
            {%- do run_query("delete from " ~ changes) -%}
        {%- endif -%}
        {%- do run_query("delete from " ~ state ~ " where model_name = '" ~ this.identifier ~ "'") -%}
        {%- for stream, mark in newest.items() -%}
            {%- do run_query(
                "insert into " ~ state ~ " values ('" ~ this.identifier ~ "', '" ~ stream
                ~ "', '" ~ mark ~ "', current_timestamp)"
            ) -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}

{% macro incremental_changes_done() -%}
    {%- if execute -%}
        {%- do run_query("delete from " ~ incremental_changes_relation()) -%}
    {%- endif -%}
{%- endmacro %}
