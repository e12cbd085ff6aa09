{# Exceptions as tracked work (docs/exceptions.md). What people do to an exception (assign an
   owner, accept it with a reason, reopen an acceptance) is appended to
   `recon_work.exception_actions`, written only through `record_exception_action`, which
   `closeloop exceptions assign|accept|reopen` runs as a dbt operation (any warehouse); the
   on-run-start hook creates the table, so recon_exception_history always binds. #}

{% macro exception_actions_relation() -%}
    {{ return(api.Relation.create(database=target.database, schema='recon_work', identifier='exception_actions')) }}
{%- endmacro %}

{% macro ensure_exception_actions() -%}
    {%- set rel = exception_actions_relation() -%}
    {%- if execute -%}{%- do adapter.create_schema(rel) -%}{%- endif -%}
    create table if not exists {{ rel }} (
        exception_id varchar,
        action varchar,
        owner varchar,
        reason varchar,
        actor varchar,
        recorded_at timestamp
    )
{%- endmacro %}

{# Append one action for each of `ids`: assign (needs owner), accept (needs reason) or reopen
   (undo an acceptance; needs reason). Unknown ids are refused, and nothing is written. #}
{% macro record_exception_action(ids, action, actor, owner='', reason='') %}
    {%- if action not in ('assign', 'accept', 'reopen') -%}
        {{ exceptions.raise_compiler_error("action must be assign, accept or reopen, got " ~ action) }}
    {%- endif -%}
    {%- if ids | length == 0 -%}
        {{ exceptions.raise_compiler_error("no exception ids given") }}
    {%- endif -%}
    {%- if action == 'assign' and not (owner | trim) -%}
        {{ exceptions.raise_compiler_error("assign needs an owner (--owner)") }}
    {%- endif -%}
    {%- if action in ('accept', 'reopen') and not (reason | trim) -%}
        {{ exceptions.raise_compiler_error(action ~ " needs a reason (--reason)") }}
    {%- endif -%}
    {%- do run_query(ensure_exception_actions()) -%}
    {%- set history = adapter.get_relation(ref('recon_exception_history').database, ref('recon_exception_history').schema, ref('recon_exception_history').identifier) -%}
    {%- if history is none -%}
        {{ exceptions.raise_compiler_error("recon_exception_history is not built: run `closeloop transform build` (or `closeloop run`) first") }}
    {%- endif -%}
    {%- set quoted = [] -%}
    {%- for i in ids -%}{%- do quoted.append("'" ~ (i | string | replace("'", "''")) ~ "'") -%}{%- endfor -%}
    {%- set known = run_query(
        "select exception_id from " ~ history ~ " where exception_id in (" ~ quoted | join(', ') ~ ")"
    ) -%}
    {%- set found = [] -%}
    {%- for row in known.rows -%}{%- do found.append(row[0]) -%}{%- endfor -%}
    {%- set missing = [] -%}
    {%- for i in ids -%}{%- if (i | string) not in found -%}{%- do missing.append(i | string) -%}{%- endif -%}{%- endfor -%}
    {%- if missing -%}
        {{ exceptions.raise_compiler_error("unknown exception id(s): " ~ missing | join(', ')) }}
    {%- endif -%}
    {%- set now = modules.datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M:%S.%f") -%}
    {%- call statement('record_exception_action', auto_begin=True) -%}
        insert into {{ exception_actions_relation() }}
            (exception_id, action, owner, reason, actor, recorded_at)
        values
        {%- for i in ids %}
            (
                '{{ i | string | replace("'", "''") }}',
                '{{ action }}',
                {% if owner | trim %}'{{ owner | trim | replace("'", "''") }}'{% else %}null{% endif %},
                {% if reason | trim %}'{{ reason | trim | replace("'", "''") }}'{% else %}null{% endif %},
                '{{ actor | replace("'", "''") }}',
                cast('{{ now }}' as timestamp)
            ){% if not loop.last %},{% endif %}
        {%- endfor %}
    {%- endcall -%}
    {%- do run_query('commit') -%}
    {{ log(action ~ " recorded for " ~ ids | length ~ " exception(s)", info=true) }}
{% endmacro %}

{# The exceptions accepted as they are: the latest accept or reopen of each is an accept.
   Write-back never plans them (erp_corrections); recon_exception_history shows `accepted`. #}
{% macro accepted_exception_ids() -%}
    select exception_id
    from (
        select
            exception_id,
            action,
            row_number() over (partition by exception_id order by recorded_at desc) as recency
        from {{ exception_actions_relation() }}
        where
            action in ('accept', 'reopen')
            {%- if known_as_of() is not none %}
                and recorded_at <= {{ known_as_of_timestamp() }}
            {%- endif %}
    ) as latest
    where recency = 1 and action = 'accept'
{%- endmacro %}

{# The write-back ledger's items when write-back has run here, else an empty list of the same
   shape: history binds before the first write-back. #}
{% macro writeback_ledger_items() -%}
    {%- set rel = none -%}
    {%- if execute -%}
        {%- set rel = adapter.get_relation(target.database, 'writeback_ledger', 'items') -%}
    {%- endif -%}
    {%- if rel is not none %}
    select
        cast(correction_id as varchar) as correction_id,
        cast(exception_id as varchar) as exception_id,
        cast(status as varchar) as status,
        cast(approved_by as varchar) as approved_by,
        cast(planned_at as timestamp) as planned_at,
        cast(applied_at as timestamp) as applied_at,
        cast(verified_at as timestamp) as verified_at
    from {{ rel }}
    {%- else %}
    select
        cast(null as varchar) as correction_id,
        cast(null as varchar) as exception_id,
        cast(null as varchar) as status,
        cast(null as varchar) as approved_by,
        cast(null as timestamp) as planned_at,
        cast(null as timestamp) as applied_at,
        cast(null as timestamp) as verified_at
    where 1 = 0
    {%- endif %}
{%- endmacro %}

{# A table of the write-back ledger (schema writeback_ledger) when write-back has run here. #}
{% macro writeback_ledger_relation(identifier) -%}
    {%- if execute -%}
        {{ return(adapter.get_relation(target.database, 'writeback_ledger', identifier)) }}
    {%- endif -%}
    {{ return(none) }}
{%- endmacro %}
