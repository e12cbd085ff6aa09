-- MRR of each Stripe (billing) customer at each month end, with its canonical customer
-- (docs/metrics.md, MRR and ARR): the sum of its subscriptions' MRR
-- (int_mrr_subscription_months, each rounded once to the minor unit). One row per month,
-- billing customer and currency with MRR.
with

subscription_months as (

    select * from {{ ref('int_mrr_subscription_months') }}

),

final as (

    select
        month_start,
        billing_customer_id,
        currency_code,
        cast(sum(mrr_amount) as decimal(38, 3)) as mrr_amount,
        min(customer_id) as customer_id,
        bool_or(is_customer_linked) as is_customer_linked
    from subscription_months
    group by 1, 2, 3
    having sum(mrr_amount) > 0

)

select * from final
