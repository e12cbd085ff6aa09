{# The long format every KPI family model returns: one row per month, currency and metric, with
   the transaction-currency amount, its USD figure and how many amounts had no rate. #}

{# Sum dated documents (month_start, currency_code, metric, amount, amount_usd) per month. #}
{% macro kpi_documents_long(documents) -%}
    select
        month_start,
        cast(currency_code as varchar) as currency_code,
        cast(metric as varchar) as metric,
        cast(sum(amount) as decimal(38, 3)) as amount,
        cast(sum(amount_usd) as decimal(38, 2)) as amount_usd,
        cast(sum(case when amount_usd is null and amount <> 0 then 1 else 0 end) as bigint)
            as usd_missing_count
    from {{ documents }}
    group by 1, 2, 3
{%- endmacro %}

{# Convert month-end balances (month_start, currency_code, metric, amount) at the rate of the
   month's last day (`months.rate_date`). #}
{% macro kpi_month_end_long(totals, months, fx) -%}
    select
        {{ totals }}.month_start,
        cast({{ totals }}.currency_code as varchar) as currency_code,
        cast({{ totals }}.metric as varchar) as metric,
        cast({{ totals }}.amount as decimal(38, 3)) as amount,
        {{ to_usd(totals ~ '.amount', fx ~ '.usd_per_unit') }} as amount_usd,
        cast(
            case when {{ fx }}.usd_per_unit is null and {{ totals }}.amount <> 0 then 1 else 0 end
            as bigint
        ) as usd_missing_count
    from {{ totals }}
    inner join {{ months }} on {{ totals }}.month_start = {{ months }}.month_start
    left join {{ fx }}
        on
            {{ totals }}.currency_code = {{ fx }}.currency_code
            and {{ months }}.rate_date = {{ fx }}.rate_date
{%- endmacro %}
