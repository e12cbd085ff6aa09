with

crm as (

    select * from {{ ref('stg_crm__products') }}

),

billing as (

    select * from {{ ref('stg_billing__products') }}

),

erp as (

    select * from {{ ref('stg_erp__items') }}

),

final as (

    select
        cast(coalesce(crm.product_code, billing.product_code, erp.item_code) as varchar)
            as product_code,
        cast(crm.product_id as varchar) as crm_product_id,
        cast(billing.product_id as varchar) as billing_product_id,
        cast(erp.item_id as varchar) as erp_item_id,
        cast(coalesce(crm.product_name, billing.product_name, erp.item_name) as varchar)
            as product_name,
        cast(crm.product_family as varchar) as product_family,
        cast(billing.unit_label as varchar) as unit_label,
        coalesce(crm.is_active, billing.is_active, true) as is_active
    from crm
    full outer join billing on crm.product_code = billing.product_code
    full outer join erp on coalesce(crm.product_code, billing.product_code) = erp.item_code

)

select * from final
