-- The MRR family of kpi_monthly in long format (docs/metrics.md, MRR and ARR): MRR at each
-- month end, its movements and the FX bucket, summed from mrr_movements' canonical customers.
-- USD figures are sums of each customer's cent-rounded figures, so in USD, per currency and
-- over all currencies: previous mrr + movements + mrr_fx = mrr, to the cent. `mrr_fx` is zero
-- in the transaction currency.
with

movements as (

    select * from {{ ref('mrr_movements') }}

),

figures as (

    select
        month_start,
        currency_code,
        'mrr' as metric,
        mrr_amount as amount,
        mrr_amount_usd as amount_usd
    from movements
    union all
    select
        month_start,
        currency_code,
        'mrr_' || movement_type as metric,
        movement_amount as amount,
        movement_amount_usd as amount_usd
    from movements
    where movement_type is not null
    union all
    select
        month_start,
        currency_code,
        'mrr_fx' as metric,
        0 as amount,
        fx_amount_usd as amount_usd
    from movements
    where previous_mrr_amount <> 0

),

final as (

    select
        month_start,
        cast(currency_code as varchar) as currency_code,
        cast(metric as varchar) as metric,
        cast(sum(amount) as decimal(38, 3)) as amount,
        cast(sum(amount_usd) as decimal(38, 2)) as amount_usd,
        cast(sum(case
            when amount_usd is null and (amount <> 0 or metric = 'mrr_fx') then 1 else 0
        end) as bigint) as usd_missing_count
    from figures
    group by 1, 2, 3

)

select * from final
