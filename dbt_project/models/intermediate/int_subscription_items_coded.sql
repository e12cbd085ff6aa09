-- Stripe subscription items with their product code and undiscounted monthly recurring amount:
-- quantity x unit price over the months of the price's interval x interval_count, rounded per
-- item to the currency's minor unit; metered and one-off prices are not recurring (zero). A
-- subscription's MRR (after its discount, rounded once) is int_mrr_subscription_months'.
with

items as (

    select * from {{ ref('stg_billing__subscription_items') }}

),

prices as (

    select * from {{ ref('stg_billing__prices') }}

),

products as (

    select * from {{ ref('int_products_mapped') }}

),

coded as (

    select
        items.subscription_item_id,
        items.subscription_id,
        items.price_id,
        products.product_code,
        items.currency_code,
        items.recurring_interval,
        coalesce(prices.recurring_interval_count, 1) as recurring_interval_count,
        prices.recurring_usage_type,
        items.quantity,
        items.unit_amount,
        {{ to_major_units(
            'case when prices.recurring_usage_type = ' ~ "'metered'" ~ ' then 0 else coalesce('
            ~ mrr_monthly_minor(
                'items.unit_amount_minor * items.quantity',
                'items.recurring_interval',
                'prices.recurring_interval_count'
            ) ~ ', 0) end',
            'items.currency_code'
        ) }} as mrr_amount
    from items
    left join products on items.product_id = products.product_id
    left join prices on items.price_id = prices.price_id

)

select * from coded
