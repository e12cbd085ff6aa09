-- MRR movements per billing customer and month, comparing its MRR at this month end with the
-- previous one: new (first MRR ever), reactivation (MRR again after a month end without),
-- expansion, contraction (negative) and churn (negative). For every month and currency:
-- previous MRR + new + expansion + contraction + churn + reactivation = MRR.
with

customer_months as (

    select * from {{ ref('int_mrr_customer_months') }}

),

months as (

    select * from {{ ref('int_months') }}

),

fx as (

    select * from {{ ref('int_fx_rates_daily') }}

),

customers as (

    select
        billing_customer_id,
        currency_code,
        min(month_start) as first_mrr_month
    from customer_months
    where mrr_amount > 0
    group by 1, 2

),

grid as (

    select
        months.month_start,
        months.rate_date,
        customers.billing_customer_id,
        customers.currency_code,
        customers.first_mrr_month,
        coalesce(customer_months.mrr_amount, 0) as mrr_amount
    from customers
    inner join months on customers.first_mrr_month <= months.month_start
    left join customer_months
        on
            customers.billing_customer_id = customer_months.billing_customer_id
            and months.month_start = customer_months.month_start

),

compared as (

    select
        *,
        coalesce(
            lag(mrr_amount) over (partition by billing_customer_id order by month_start), 0
        ) as previous_mrr_amount
    from grid

),

classified as (

    select
        *,
        case
            when previous_mrr_amount = 0 and mrr_amount > 0 and month_start = first_mrr_month
                then 'new'
            when previous_mrr_amount = 0 and mrr_amount > 0 then 'reactivation'
            when previous_mrr_amount > 0 and mrr_amount = 0 then 'churn'
            when mrr_amount > previous_mrr_amount then 'expansion'
            when mrr_amount < previous_mrr_amount then 'contraction'
        end as movement_type
    from compared

),

final as (

    select
        {{ surrogate_key(['classified.billing_customer_id', 'classified.month_start']) }}
            as mrr_movement_id,
        classified.month_start,
        cast(classified.billing_customer_id as varchar) as billing_customer_id,
        cast(classified.currency_code as varchar) as currency_code,
        cast(classified.movement_type as varchar) as movement_type,
        cast(classified.previous_mrr_amount as decimal(38, 2)) as previous_mrr_amount,
        cast(classified.mrr_amount as decimal(38, 2)) as mrr_amount,
        cast(classified.mrr_amount - classified.previous_mrr_amount as decimal(38, 2))
            as movement_amount,
        {{ to_usd('classified.mrr_amount - classified.previous_mrr_amount', 'fx.usd_per_unit') }}
            as movement_amount_usd
    from classified
    left join fx
        on
            classified.currency_code = fx.currency_code
            and classified.rate_date = fx.rate_date
    where classified.movement_type is not null or classified.mrr_amount > 0

)

select * from final
