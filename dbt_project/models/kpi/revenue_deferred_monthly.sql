-- The deferred-revenue roll-forward per month and transaction currency: opening + billed -
-- credited - written_off - recognized = closing, to the minor unit, in the currency and in USD
-- (every line at its invoice date's rate). `closing` = deferred_revenue - unbilled_revenue.
-- One row per month from the currency's first schedule month to the as-of month. Definitions:
-- docs/metrics.md, "Recognized and deferred revenue".
{%- set amounts = [
    'opening', 'billed', 'credited', 'written_off', 'recognized', 'closing',
    'deferred_revenue', 'unbilled_revenue'
] -%}
{%- set sums = [] -%}
{%- set outs = [] -%}
{%- for a in amounts -%}
    {%- do sums.append('sum(' ~ a ~ ') as ' ~ a) -%}
    {%- do sums.append('sum(' ~ a ~ '_usd) as ' ~ a ~ '_usd') -%}
    {%- do outs.append('cast(coalesce(totals.' ~ a ~ ', 0) as decimal(38, 3)) as ' ~ a) -%}
{%- endfor -%}
{%- for a in amounts -%}
    {%- do outs.append('cast(coalesce(totals.' ~ a ~ '_usd, 0) as decimal(38, 2)) as ' ~ a ~ '_usd') -%}
{%- endfor %}

with

months as (

    select * from {{ ref('int_months') }}

),

schedule as (

    select * from {{ ref('int_revenue_recognized_months') }}

),

totals as (

    select
        month_start,
        currency_code,
        {{ sums | join(',\n        ') }},
        sum(case
            when usd_per_unit is null and (opening <> 0 or billed <> 0 or closing <> 0) then 1 else 0
        end) as usd_missing_count
    from schedule
    group by 1, 2

),

currencies as (

    select
        currency_code,
        min(month_start) as first_month
    from totals
    group by 1

),

final as (

    select
        months.month_start,
        cast(currencies.currency_code as varchar) as currency_code,
        {{ outs | join(',\n        ') }},
        cast(coalesce(totals.usd_missing_count, 0) as bigint) as usd_missing_count
    from months
    inner join currencies on months.month_start >= currencies.first_month
    left join totals
        on
            months.month_start = totals.month_start
            and currencies.currency_code = totals.currency_code

)

select * from final
