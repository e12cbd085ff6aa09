-- Each Stripe product with its product code (the CRM ProductCode contracts and opportunities
-- use), by the first rule that holds: the configured product metadata key
-- (`product_code_metadata_key`), else the ERP item whose externalid is the Stripe product id,
-- else a CRM product or ERP item whose code or name equals the product's name once normalised
-- (lower case, letters and digits), when exactly one code does. `product_match_method` says
-- which; an unmapped product keeps a null code and is listed in ops.dq_issues.
with

billing as (

    select * from {{ ref('stg_billing__products') }}

),

crm as (

    select * from {{ ref('stg_crm__products') }}

),

erp as (

    select * from {{ ref('stg_erp__items') }}

),

by_erp_external_id as (

    select
        billing.product_id,
        min(erp.item_code) as product_code
    from billing
    inner join erp on billing.product_id = erp.external_id
    group by 1
    having count(distinct erp.item_code) = 1

),

named as (

    select
        product_code,
        {{ normalize_code('product_code') }} as code_key,
        {{ normalize_code('product_name') }} as name_key
    from crm
    union all
    select
        item_code as product_code,
        {{ normalize_code('item_code') }} as code_key,
        {{ normalize_code('item_name') }} as name_key
    from erp

),

by_code as (

    select
        billing.product_id,
        min(named.product_code) as product_code
    from billing
    inner join named on {{ normalize_code('billing.product_name') }} = named.code_key
    group by 1
    having count(distinct named.product_code) = 1

),

by_name as (

    select
        billing.product_id,
        min(named.product_code) as product_code
    from billing
    inner join named on {{ normalize_code('billing.product_name') }} = named.name_key
    group by 1
    having count(distinct named.product_code) = 1

),

final as (

    select
        billing.product_id,
        billing.product_name,
        cast(coalesce(
            billing.product_code,
            by_erp_external_id.product_code,
            by_code.product_code,
            by_name.product_code
        ) as varchar) as product_code,
        cast(case
            when billing.product_code is not null then 'metadata'
            when by_erp_external_id.product_code is not null then 'erp_external_id'
            when by_code.product_code is not null then 'code'
            when by_name.product_code is not null then 'name'
        end as varchar) as product_match_method
    from billing
    left join by_erp_external_id on billing.product_id = by_erp_external_id.product_id
    left join by_code on billing.product_id = by_code.product_id
    left join by_name on billing.product_id = by_name.product_id

)

select * from final
