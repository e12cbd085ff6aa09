{# Period close (docs/close.md). The log of closes and reopens is the one table closeloop writes
   outside dbt's models; it lives in schema `period_close`, is created by the on-run-start hook
   (so the models that read it always bind) and is written only through
   `record_period_event`, which `closeloop close` / `closeloop reopen` run as a dbt operation,
   so it works on every warehouse dbt runs on. #}

{% macro period_log_relation() -%}
    {{ return(api.Relation.create(database=target.database, schema='period_close', identifier='period_log')) }}
{%- endmacro %}

{% macro ensure_period_log() -%}
    {%- set rel = period_log_relation() -%}
    {%- if execute -%}{%- do adapter.create_schema(rel) -%}{%- endif -%}
    create table if not exists {{ rel }} (
        period_month date,
        action varchar,
        close_id varchar,
        actor varchar,
        reason varchar,
        recorded_at timestamp
    )
{%- endmacro %}

{# Record `close` or `reopen` of a month (YYYY-MM). Refuses to close a closed period, to reopen
   an open one, and a reopen without a reason; raises with the reason, so nothing is written. #}
{% macro record_period_event(period, action, actor, reason='') %}
    {%- if action not in ('close', 'reopen') -%}
        {{ exceptions.raise_compiler_error("action must be close or reopen, got " ~ action) }}
    {%- endif -%}
    {%- if not modules.re.match('^[0-9]{4}-(0[1-9]|1[0-2])$', period | string) -%}
        {{ exceptions.raise_compiler_error("period must be YYYY-MM, got " ~ period) }}
    {%- endif -%}
    {%- if action == 'reopen' and not (reason | trim) -%}
        {{ exceptions.raise_compiler_error("reopening " ~ period ~ " needs a reason") }}
    {%- endif -%}
    {%- do run_query(ensure_period_log()) -%}
    {%- set rel = period_log_relation() -%}
    {%- set month = period ~ '-01' -%}
    {%- set last = run_query(
        "select action from " ~ rel ~ " where period_month = cast('" ~ month ~ "' as date)"
        ~ " order by recorded_at desc limit 1"
    ) -%}
    {%- set is_closed = (last.rows | length > 0) and last.rows[0][0] == 'close' -%}
    {%- if action == 'close' and is_closed -%}
        {{ exceptions.raise_compiler_error(period ~ " is already closed; `closeloop reopen` it first") }}
    {%- endif -%}
    {%- if action == 'reopen' and not is_closed -%}
        {{ exceptions.raise_compiler_error(period ~ " is not closed") }}
    {%- endif -%}
    {%- if action == 'close' -%}
        {#- a month closes once it is over at the as-of instant and its KPIs are built -#}
        {%- set kpis = adapter.get_relation(ref('kpi_monthly').database, ref('kpi_monthly').schema, ref('kpi_monthly').identifier) -%}
        {%- if kpis is none -%}
            {{ exceptions.raise_compiler_error("kpi_monthly is not built: run `closeloop transform build` (or `closeloop run`) before closing " ~ period) }}
        {%- endif -%}
        {%- set found = run_query(
            "select count(*), max(clock.as_of_at) from " ~ ref('kpi_monthly') ~ " as k cross join "
            ~ ref('int_recon_clock') ~ " as clock where k.month_start = cast('" ~ month ~ "' as date)"
        ) -%}
        {%- if found.rows[0][0] == 0 -%}
            {{ exceptions.raise_compiler_error("kpi_monthly has no figures for " ~ period) }}
        {%- endif -%}
        {%- set month_end = run_query("select cast(" ~ add_months("cast('" ~ month ~ "' as date)", 1) ~ " as timestamp)").rows[0][0] -%}
        {%- if found.rows[0][1] < month_end -%}
            {{ exceptions.raise_compiler_error(period ~ " is not over at the as-of instant (" ~ found.rows[0][1] ~ "): a month closes after it ends") }}
        {%- endif -%}
    {%- endif -%}
    {%- set now = modules.datetime.datetime.utcnow() -%}
    {%- set close_id = period ~ '/' ~ now.strftime('%Y%m%dT%H%M%S%fZ') -%}
    {#- in a transaction of its own, committed here: a run-operation commits nothing itself -#}
    {%- call statement('record_period_event', auto_begin=True) -%}
        insert into {{ rel }} (period_month, action, close_id, actor, reason, recorded_at)
        values (
            cast('{{ month }}' as date),
            '{{ action }}',
            '{{ close_id }}',
            '{{ actor | replace("'", "''") }}',
            '{{ reason | replace("'", "''") }}',
            cast('{{ now.strftime("%Y-%m-%d %H:%M:%S.%f") }}' as timestamp)
        )
    {%- endcall -%}
    {%- do run_query('commit') -%}
    {{ log(action ~ " " ~ period ~ " recorded as " ~ close_id, info=true) }}
{% endmacro %}

{# The numeric columns of kpi_monthly as (metric, value) rows: whatever columns it has when a
   period is frozen, so metrics added later never break an old close. #}
{% macro kpi_monthly_long(relation, where) -%}
    {%- set keys = ['month_start', 'currency_code'] -%}
    {%- set metrics = [] -%}
    {%- if execute -%}
        {%- for col in adapter.get_columns_in_relation(relation) -%}
            {%- if col.name | lower not in keys -%}{%- do metrics.append(col.name | lower) -%}{%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {%- for m in metrics %}
    select
        month_start,
        cast(currency_code as varchar) as currency_code,
        cast('{{ m }}' as varchar) as metric,
        cast({{ m }} as decimal(38, 4)) as metric_value
    from {{ relation }}
    where {{ where }}
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
    {%- if metrics | length == 0 %}
    select
        cast(null as date) as month_start,
        cast(null as varchar) as currency_code,
        cast(null as varchar) as metric,
        cast(null as decimal(38, 4)) as metric_value
    where false
    {%- endif %}
{%- endmacro %}

{# Every document a month's document KPIs count, by the date that places it in a month: its
   type, id, status and amount. Frozen at close (frozen_documents) and compared with the current
   list (kpi_restatement_documents), it names the documents behind a restatement. #}
{% macro kpi_documents_sql() -%}
    select
        'invoice' as document_type,
        cast(invoice_id as varchar) as document_id,
        cast(date_trunc('month', finalized_at) as date) as month_start,
        cast(currency_code as varchar) as currency_code,
        cast(invoice_status as varchar) as document_status,
        cast(total as decimal(38, 3)) as amount
    from {{ ref('fct_invoice') }}
    where finalized_at is not null
    union all
    select
        'credit_note' as document_type,
        cast(credit_note_id as varchar) as document_id,
        cast(date_trunc('month', created_at) as date) as month_start,
        cast(currency_code as varchar) as currency_code,
        cast(credit_note_status as varchar) as document_status,
        cast(total as decimal(38, 3)) as amount
    from {{ ref('fct_credit_note') }}
    union all
    select
        'payment' as document_type,
        cast(payment_id as varchar) as document_id,
        cast(date_trunc('month', paid_at) as date) as month_start,
        cast(currency_code as varchar) as currency_code,
        cast('paid' as varchar) as document_status,
        cast(amount as decimal(38, 3)) as amount
    from {{ ref('fct_payment') }}
    where paid_at is not null
    union all
    select
        'refund' as document_type,
        cast(refund_id as varchar) as document_id,
        cast(date_trunc('month', created_at) as date) as month_start,
        cast(currency_code as varchar) as currency_code,
        cast(refund_status as varchar) as document_status,
        cast(amount as decimal(38, 3)) as amount
    from {{ ref('stg_billing__refunds') }}
    union all
    select
        'opportunity' as document_type,
        cast(opportunity_id as varchar) as document_id,
        cast(date_trunc('month', close_date) as date) as month_start,
        cast(currency_code as varchar) as currency_code,
        cast(case when is_won then 'won' else 'not won' end as varchar) as document_status,
        cast(amount as decimal(38, 3)) as amount
    from {{ ref('stg_crm__opportunities') }}
    where close_date is not null
{%- endmacro %}

{# Null-safe "differs": true when exactly one side is null, or both are set and unequal. #}
{% macro values_differ(left, right) -%}
    coalesce({{ left }} <> {{ right }}, ({{ left }} is null) <> ({{ right }} is null))
{%- endmacro %}
