-- ar_aging (the as-of instant) and ar_aging_monthly (every month end) add up, per month and
-- currency, to kpi_monthly's open_ar and open_ar_usd (docs/metrics.md, Open AR): a row is
-- returned for every month and currency where they do not.
with

kpi as (

    select * from {{ ref('kpi_monthly') }}
    where currency_code <> 'ALL'

),

monthly as (

    select
        month_start,
        currency_code,
        sum(amount_remaining) as amount_remaining,
        sum(amount_remaining_usd) as amount_remaining_usd
    from {{ ref('ar_aging_monthly') }}
    group by 1, 2

),

as_of as (

    select
        cast(date_trunc('month', as_of_at) as date) as month_start,
        currency_code,
        sum(amount_remaining) as amount_remaining,
        sum(amount_remaining_usd) as amount_remaining_usd
    from {{ ref('ar_aging') }}
    group by 1, 2

),

clock as (

    select cast(date_trunc('month', as_of_at) as date) as month_start
    from {{ ref('int_recon_clock') }}

),

checked as (

    select
        'ar_aging_monthly' as model_name,
        kpi.month_start,
        kpi.currency_code,
        kpi.open_ar,
        kpi.open_ar_usd,
        coalesce(monthly.amount_remaining, 0) as amount_remaining,
        coalesce(monthly.amount_remaining_usd, 0) as amount_remaining_usd
    from kpi
    left join monthly
        on kpi.month_start = monthly.month_start and kpi.currency_code = monthly.currency_code
    union all
    select
        'ar_aging' as model_name,
        kpi.month_start,
        kpi.currency_code,
        kpi.open_ar,
        kpi.open_ar_usd,
        coalesce(as_of.amount_remaining, 0) as amount_remaining,
        coalesce(as_of.amount_remaining_usd, 0) as amount_remaining_usd
    from kpi
    inner join clock on kpi.month_start = clock.month_start
    left join as_of
        on kpi.month_start = as_of.month_start and kpi.currency_code = as_of.currency_code

)

select * from checked
where
    {{ decimals_differ('open_ar', 'amount_remaining') }}
    or {{ decimals_differ('open_ar_usd', 'amount_remaining_usd', 2) }}
