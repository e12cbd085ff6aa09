-- The cash family's ratios, one row per month and currency (and ALL, in USD): days sales
-- outstanding by the countback method (docs/metrics.md, Open AR, aging and DSO). From the month
-- back, each month's gross billings absorb the month-end open AR: whole months count all their
-- days, the month that exhausts it the fraction AR left / its billings of its days. A month's
-- days are its calendar days, the as-of month's up to the as-of date.
with

months as (

    select * from {{ ref('int_months') }}

),

cash as (

    select * from {{ ref('int_kpi_cash') }}
    where metric in ('billings', 'open_ar')

),

currencies as (

    select distinct currency_code from cash
    union all
    select 'ALL' as currency_code

),

figures as (

    select
        month_start,
        currency_code,
        sum(case when metric = 'open_ar' then amount else 0 end) as open_ar,
        sum(case when metric = 'billings' then amount else 0 end) as billings
    from cash
    group by 1, 2
    union all
    select
        month_start,
        'ALL' as currency_code,
        sum(case when metric = 'open_ar' then coalesce(amount_usd, 0) else 0 end) as open_ar,
        sum(case when metric = 'billings' then coalesce(amount_usd, 0) else 0 end) as billings
    from cash
    group by 1, 2

),

grid as (

    -- every month for every currency: a month without billings still counts its days
    select
        months.month_start,
        currencies.currency_code,
        cast({{ days_between('months.month_start', 'months.rate_date') }} + 1 as decimal(38, 6))
            as month_days,
        cast(coalesce(figures.open_ar, 0) as decimal(38, 6)) as open_ar,
        cast(coalesce(figures.billings, 0) as decimal(38, 6)) as billings
    from months
    cross join currencies
    left join figures
        on
            months.month_start = figures.month_start
            and currencies.currency_code = figures.currency_code

),

running as (

    select
        grid.*,
        sum(grid.billings) over (
            partition by grid.currency_code
            order by grid.month_start
            rows between unbounded preceding and current row
        ) as billings_to_date,
        sum(grid.month_days) over (
            partition by grid.currency_code
            order by grid.month_start
            rows between unbounded preceding and current row
        ) as days_to_date
    from grid

),

countback as (

    -- for each month, the latest earlier-or-same month whose billings, with those after it up
    -- to the month, cover the month-end AR: the month that exhausts it
    select
        month_end.month_start,
        month_end.currency_code,
        month_end.open_ar,
        -- whole months after the exhausting one, then its fraction
        month_end.days_to_date - back.days_to_date
        + (month_end.open_ar - (month_end.billings_to_date - back.billings_to_date))
        / back.billings * back.month_days as days_sales_outstanding
    from running as month_end
    inner join running as back
        on
            month_end.currency_code = back.currency_code
            and month_end.month_start >= back.month_start
            and month_end.billings_to_date - back.billings_to_date + back.billings >= month_end.open_ar
            and back.billings > 0
    where month_end.open_ar > 0
    qualify row_number() over (
        partition by month_end.currency_code, month_end.month_start order by back.month_start desc
    ) = 1

),

final as (

    select
        running.month_start,
        cast(running.currency_code as varchar) as currency_code,
        cast(case
            when running.open_ar = 0 then 0
            -- through decimal(38, 9) first: a binary quotient must not decide the rounding
            else round(cast(countback.days_sales_outstanding as decimal(38, 9)), 1)
        end as decimal(10, 1)) as days_sales_outstanding
    from running
    left join countback
        on
            running.month_start = countback.month_start
            and running.currency_code = countback.currency_code

)

select * from final
