-- MRR of each billing customer at each month end: for every subscription live at that
-- instant, each item's quantity then (its latest quantity event) times its price, annual
-- prices per month rounded per item to the currency's minor unit.
with

events as (

    select * from {{ ref('int_subscription_quantity_events') }}
    union all
    select * from {{ ref('int_subscription_amendments_confirmed') }}

),

subscriptions as (

    select * from {{ ref('stg_billing__subscriptions') }}

),

prices as (

    select * from {{ ref('stg_billing__prices') }}

),

months as (

    select * from {{ ref('int_months') }}

),

deduplicated as (

    select *
    from events
    qualify row_number() over (
        partition by subscription_id, product_code, effective_at
        order by event_rank desc, quantity desc
    ) = 1

),

intervals as (

    select
        subscription_id,
        product_code,
        price_id,
        recurring_interval,
        quantity,
        effective_at as valid_from,
        lead(effective_at) over (
            partition by subscription_id, product_code order by effective_at
        ) as valid_to
    from deduplicated

),

item_months as (

    select
        months.month_start,
        subscriptions.customer_id,
        subscriptions.currency_code,
        intervals.subscription_id,
        intervals.product_code,
        {{ monthly_amount('prices.unit_amount_minor', 'intervals.quantity', 'intervals.recurring_interval', 'subscriptions.currency_code') }} as mrr_amount
    from intervals
    inner join months
        on
            intervals.valid_from < months.month_end_at
            and (intervals.valid_to is null or intervals.valid_to >= months.month_end_at)
    inner join subscriptions
        on
            intervals.subscription_id = subscriptions.subscription_id
            and months.month_end_at > subscriptions.started_at
            and (subscriptions.ended_at is null or months.month_end_at <= subscriptions.ended_at)
    inner join prices on intervals.price_id = prices.price_id

),

final as (

    select
        month_start,
        customer_id as billing_customer_id,
        currency_code,
        sum(mrr_amount) as mrr_amount
    from item_months
    group by 1, 2, 3

)

select * from final
