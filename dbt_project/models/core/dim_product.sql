with

crm as (

    select * from {{ ref('stg_crm__products') }}

),

billing as (

    select
        products.*,
        mapped.product_code as mapped_product_code,
        mapped.product_match_method
    from {{ ref('stg_billing__products') }} as products
    inner join {{ ref('int_products_mapped') }} as mapped
        on products.product_id = mapped.product_id

),

erp as (

    select * from {{ ref('stg_erp__items') }}

),

final as (

    select
        -- an unmapped Stripe product keeps its own id as its code (listed in ops.dq_issues)
        cast(coalesce(crm.product_code, billing.mapped_product_code, erp.item_code, billing.product_id) as varchar)
            as product_code,
        cast(crm.product_id as varchar) as crm_product_id,
        cast(billing.product_id as varchar) as billing_product_id,
        cast(erp.item_id as varchar) as erp_item_id,
        cast(coalesce(crm.product_name, billing.product_name, erp.item_name) as varchar)
            as product_name,
        cast(crm.product_family as varchar) as product_family,
        cast(billing.unit_label as varchar) as unit_label,
        coalesce(crm.is_active, billing.is_active, true) as is_active,
        cast(case
            when billing.product_id is not null then coalesce(billing.product_match_method, 'unmapped')
        end as varchar) as product_match_method
    from crm
    full outer join billing on crm.product_code = billing.mapped_product_code
    full outer join erp on coalesce(crm.product_code, billing.mapped_product_code) = erp.item_code

)

select * from final
