-- The MRR bridge (docs/metrics.md, MRR and ARR), a row for every break:
-- * per month and currency in kpi_monthly: previous MRR + new + expansion + contraction +
--   churn + reactivation = MRR in the currency (mrr_fx is zero there), and the same in USD
--   with the FX bucket (previous mrr_usd + movements_usd + mrr_fx_usd = mrr_usd), for every
--   currency and ALL;
-- * per canonical customer in mrr_movements: previous + movement = MRR in the currency, and
--   previous_usd + movement_usd + fx_usd = MRR_usd; and each row's previous USD figure is the
--   customer's MRR in USD at the previous month end.
with

kpi as (

    select * from {{ ref('kpi_monthly') }}

),

movements as (

    select * from {{ ref('mrr_movements') }}

),

kpi_checked as (

    select
        month_start,
        currency_code,
        'kpi_monthly' as checked,
        mrr,
        coalesce(lag(mrr) over (partition by currency_code order by month_start), 0)
        + mrr_new + mrr_expansion + mrr_contraction + mrr_churn + mrr_reactivation + mrr_fx
            as rolled,
        mrr_usd,
        coalesce(lag(mrr_usd) over (partition by currency_code order by month_start), 0)
        + mrr_new_usd + mrr_expansion_usd + mrr_contraction_usd + mrr_churn_usd
        + mrr_reactivation_usd + mrr_fx_usd as rolled_usd,
        -- a figure without a rate leaves the USD sums (usd_missing_count): not checked in USD
        usd_missing_count
        + coalesce(lag(usd_missing_count) over (partition by currency_code order by month_start), 0)
            as usd_missing_count
    from kpi

),

customer_checked as (

    select
        movements.month_start,
        movements.currency_code,
        'mrr_movements ' || movements.customer_id as checked,
        movements.mrr_amount as mrr,
        movements.previous_mrr_amount + movements.movement_amount as rolled,
        movements.mrr_amount_usd as mrr_usd,
        movements.previous_mrr_amount_usd + movements.movement_amount_usd
        + movements.fx_amount_usd as rolled_usd,
        0 as usd_missing_count
    from movements
    where movements.mrr_amount_usd is not null and movements.fx_amount_usd is not null

),

opening_checked as (

    select
        movements.month_start,
        movements.currency_code,
        'opening ' || movements.customer_id as checked,
        movements.previous_mrr_amount as mrr,
        coalesce(previous.mrr_amount, 0) as rolled,
        movements.previous_mrr_amount_usd as mrr_usd,
        coalesce(previous.mrr_amount_usd, 0) as rolled_usd,
        0 as usd_missing_count
    from movements
    left join movements as previous
        on
            movements.customer_id = previous.customer_id
            and movements.currency_code = previous.currency_code
            and previous.month_start = {{ add_months('movements.month_start', -1) }}
    where movements.previous_mrr_amount_usd is not null

),

checked as (

    select * from kpi_checked
    where currency_code <> 'ALL'
    union all
    select
        month_start,
        currency_code,
        checked,
        0 as mrr,
        0 as rolled,
        mrr_usd,
        rolled_usd,
        usd_missing_count
    from kpi_checked
    where currency_code = 'ALL'
    union all
    select * from customer_checked
    union all
    select * from opening_checked

)

select * from checked
where
    {{ decimals_differ('mrr', 'rolled') }}
    or ({{ decimals_differ('mrr_usd', 'rolled_usd', 2) }} and usd_missing_count = 0)
