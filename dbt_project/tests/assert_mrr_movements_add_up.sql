-- Per month and currency: previous MRR + new + expansion + contraction + churn + reactivation
-- equals this month's MRR (a row is returned for every month where it does not).
with

kpi as (

    select * from {{ ref('kpi_monthly') }}
    where currency_code <> 'ALL'

),

checked as (

    select
        month_start,
        currency_code,
        mrr,
        coalesce(lag(mrr) over (partition by currency_code order by month_start), 0)
        + mrr_new + mrr_expansion + mrr_contraction + mrr_churn + mrr_reactivation as rolled
    from kpi

)

select * from checked
where mrr <> rolled
