-- The current terms of each contract: the line items of its latest won opportunity
-- (close date, then created, then id, newest first; deleted opportunities are gone in staging).
with

opportunities as (

    select * from {{ ref('stg_crm__opportunities') }}

),

line_items as (

    select * from {{ ref('stg_crm__opportunity_line_items') }}

),

products as (

    select * from {{ ref('stg_crm__products') }}

),

latest_won as (

    select
        contract_id,
        opportunity_id,
        opportunity_type,
        close_date
    from opportunities
    where is_won and contract_id is not null
    qualify row_number() over (
        partition by contract_id
        order by close_date desc, created_at desc, opportunity_id desc
    ) = 1

),

terms as (

    select
        latest_won.contract_id,
        latest_won.opportunity_id,
        latest_won.opportunity_type,
        latest_won.close_date,
        products.product_code,
        sum(line_items.quantity) as quantity,
        max(line_items.unit_price) as unit_price
    from latest_won
    inner join line_items on latest_won.opportunity_id = line_items.opportunity_id
    inner join products on line_items.product_id = products.product_id
    group by 1, 2, 3, 4, 5

)

select * from terms
