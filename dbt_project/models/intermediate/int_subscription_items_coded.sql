-- Stripe subscription items with their product code and monthly recurring amount.
with

items as (

    select * from {{ ref('stg_billing__subscription_items') }}

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
        items.quantity,
        items.unit_amount,
        {{ monthly_amount('items.unit_amount_minor', 'items.quantity', 'items.recurring_interval', 'items.currency_code') }} as mrr_amount
    from items
    left join products on items.product_id = products.product_id

)

select * from coded
