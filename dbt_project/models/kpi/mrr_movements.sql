-- MRR movements per canonical customer, currency and month (docs/metrics.md, MRR and ARR),
-- comparing its MRR at this month end (C) with the previous one (O): new (first MRR ever in
-- the currency), reactivation (MRR again after a month end without), expansion, contraction
-- (negative) and churn (negative); one movement per customer-month, whatever its Stripe
-- customers did. In currency: O + movements = C. In USD, per customer, at this month end's
-- rate r and the previous one's r': opening round(O x r') + movement (round(C x r) -
-- round(O x r)) + fx (round(O x r) - round(O x r')) = closing round(C x r), to the cent.
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

canonical_months as (

    select
        month_start,
        customer_id,
        currency_code,
        sum(mrr_amount) as mrr_amount
    from customer_months
    group by 1, 2, 3

),

customers as (

    select
        customer_id,
        currency_code,
        min(billing_customer_id) as billing_customer_id,
        bool_or(is_customer_linked) as is_customer_linked,
        count(distinct billing_customer_id) as billing_customer_count,
        min(month_start) as first_mrr_month
    from customer_months
    group by 1, 2

),

grid as (

    select
        months.month_start,
        customers.customer_id,
        customers.billing_customer_id,
        customers.is_customer_linked,
        customers.billing_customer_count,
        customers.currency_code,
        customers.first_mrr_month,
        fx.usd_per_unit,
        coalesce(canonical_months.mrr_amount, 0) as mrr_amount
    from customers
    inner join months on customers.first_mrr_month <= months.month_start
    left join canonical_months
        on
            customers.customer_id = canonical_months.customer_id
            and customers.currency_code = canonical_months.currency_code
            and months.month_start = canonical_months.month_start
    left join fx
        on
            customers.currency_code = fx.currency_code
            and months.rate_date = fx.rate_date

),

compared as (

    select
        *,
        coalesce(
            lag(mrr_amount) over (
                partition by customer_id, currency_code order by month_start
            ),
            0
        ) as previous_mrr_amount,
        lag(usd_per_unit) over (
            partition by customer_id, currency_code order by month_start
        ) as previous_usd_per_unit
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
        end as movement_type,
        {{ to_usd('mrr_amount', 'usd_per_unit') }} as closing_usd,
        {{ to_usd('previous_mrr_amount', 'usd_per_unit') }} as opening_at_new_rate_usd,
        case
            when previous_mrr_amount = 0 then cast(0 as decimal(38, 2))
            else {{ to_usd('previous_mrr_amount', 'previous_usd_per_unit') }}
        end as opening_usd
    from compared

),

final as (

    select
        {{ surrogate_key(['customer_id', 'currency_code', 'month_start']) }} as mrr_movement_id,
        month_start,
        cast(billing_customer_id as varchar) as billing_customer_id,
        cast(currency_code as varchar) as currency_code,
        cast(movement_type as varchar) as movement_type,
        cast(previous_mrr_amount as decimal(38, 3)) as previous_mrr_amount,
        cast(mrr_amount as decimal(38, 3)) as mrr_amount,
        cast(mrr_amount - previous_mrr_amount as decimal(38, 3)) as movement_amount,
        cast(closing_usd - opening_at_new_rate_usd as decimal(38, 2)) as movement_amount_usd,
        cast(customer_id as varchar) as customer_id,
        is_customer_linked,
        cast(billing_customer_count as bigint) as billing_customer_count,
        cast(opening_usd as decimal(38, 2)) as previous_mrr_amount_usd,
        cast(closing_usd as decimal(38, 2)) as mrr_amount_usd,
        cast(opening_at_new_rate_usd - opening_usd as decimal(38, 2)) as fx_amount_usd
    from classified
    where movement_type is not null or mrr_amount > 0

)

select * from final
