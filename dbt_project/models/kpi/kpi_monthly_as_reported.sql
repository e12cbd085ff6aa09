-- depends_on: {{ ref('kpi_monthly') }}
-- kpi_monthly's rows of every closed month as they were reported at its close (the latest close
-- of a reopened and closed-again month), in kpi_monthly's columns. A column added to kpi_monthly
-- after a close is null for that close. docs/close.md.
{%- set keys = ['month_start', 'currency_code'] -%}
{%- set columns = [] -%}
{%- if execute -%}
    {%- for col in adapter.get_columns_in_relation(ref('kpi_monthly')) -%}
        {%- if col.name | lower not in keys -%}{%- do columns.append(col) -%}{%- endif -%}
    {%- endfor -%}
{%- endif %}

with

closes as (

    select * from {{ ref('int_period_closes') }}
    where is_closed

),

frozen as (

    select frozen_kpi_values.*
    from {{ ref('frozen_kpi_values') }} as frozen_kpi_values
    inner join closes on frozen_kpi_values.close_id = closes.close_id

),

final as (

    select
        month_start,
        cast(currency_code as varchar) as currency_code,
        {%- for col in columns %}
        cast(max(case when metric = '{{ col.name | lower }}' then metric_value end) as {{ col.data_type }})
            as {{ col.name | lower }},
        {%- endfor %}
        max(close_id) as close_id,
        max(closed_at) as closed_at
    from frozen
    group by 1, 2

)

select * from final
