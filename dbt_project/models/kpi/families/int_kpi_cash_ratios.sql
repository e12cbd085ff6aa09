-- The cash family's ratios, one row per month and currency (and ALL, in USD): days sales
-- outstanding. Definitions: docs/metrics.md.
with

months as (

    select * from {{ ref('int_months') }}

),

cash as (

    select * from {{ ref('int_kpi_cash') }}

),

per_currency as (

    select
        month_start,
        currency_code,
        sum(case when metric = 'open_ar' then amount_usd end) as open_ar_usd,
        sum(case when metric = 'billings' then amount_usd end) as billings_usd
    from cash
    group by 1, 2

),

all_currencies as (

    select
        month_start,
        'ALL' as currency_code,
        sum(open_ar_usd) as open_ar_usd,
        sum(billings_usd) as billings_usd
    from per_currency
    group by 1

),

unioned as (

    select * from per_currency
    union all
    select * from all_currencies

),

final as (

    select
        unioned.month_start,
        cast(unioned.currency_code as varchar) as currency_code,
        -- days sales outstanding: month-end receivables over the month's billings per day
        cast(case
            when unioned.billings_usd > 0
                then round(
                    unioned.open_ar_usd / unioned.billings_usd
                    * {{ days_between('months.month_start', 'months.next_month_start') }},
                    1
                )
        end as decimal(10, 1)) as days_sales_outstanding
    from unioned
    inner join months on unioned.month_start = months.month_start

)

select * from final
