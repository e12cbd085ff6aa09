-- Every system record of every canonical customer: one row per (system, system customer id),
-- crm, billing or erp. A CRM account may have many billing customers (one per currency) and
-- many ERP customers (one per subsidiary); facts roll up to the canonical customer through any
-- of them (join a billing id on `system = 'billing'`). A billing row carries its ERP
-- counterpart (the ERP customer in its currency, else in a subsidiary keeping it: where
-- write-back posts its invoices and payments; null when it has none, a customer_missing_in_erp);
-- an ERP row the first billing customer it books.
with

matched as (

    select * from {{ ref('int_customers_matched') }}

),

pairs as (

    select
        {{ surrogate_key(["coalesce(crm_account_id, billing_customer_id, 'erp:' || cast(erp_customer_id as varchar))"]) }} as customer_id,
        cast(crm_account_id as varchar) as crm_account_id,
        cast(billing_customer_id as varchar) as billing_customer_id,
        cast(erp_customer_id as varchar) as erp_customer_id,
        cast(billing_match_method as varchar) as billing_match_method,
        cast(erp_match_method as varchar) as erp_match_method,
        billing_match_confidence,
        erp_match_confidence,
        coalesce(
            crm_account_id is not null
            and (
                billing_match_confidence < {{ var('match_review_threshold') }}
                or erp_match_confidence < {{ var('match_review_threshold') }}
            ),
            false
        ) as needs_review
    from matched

),

crm_members as (

    select
        customer_id,
        crm_account_id,
        'crm' as source_system,
        crm_account_id as source_customer_id,
        cast(null as varchar) as billing_customer_id,
        cast(null as varchar) as erp_customer_id,
        'id' as match_method,
        cast(1.00 as decimal(3, 2)) as match_confidence,
        bool_or(needs_review) as needs_review
    from pairs
    where crm_account_id is not null
    group by 1, 2

),

billing_members as (

    select
        customer_id,
        crm_account_id,
        'billing' as source_system,
        billing_customer_id as source_customer_id,
        billing_customer_id,
        erp_customer_id,
        coalesce(billing_match_method, 'unmatched') as match_method,
        billing_match_confidence as match_confidence,
        needs_review
    from pairs
    where billing_customer_id is not null

),

erp_members as (

    select
        customer_id,
        crm_account_id,
        'erp' as source_system,
        erp_customer_id as source_customer_id,
        min(billing_customer_id) as billing_customer_id,
        erp_customer_id,
        coalesce(min(erp_match_method), 'unmatched') as match_method,
        min(erp_match_confidence) as match_confidence,
        coalesce(crm_account_id is not null and min(erp_match_confidence) < {{ var('match_review_threshold') }}, false)
            as needs_review
    from pairs
    where erp_customer_id is not null
    group by 1, 2, 4, 6

),

unioned as (

    select * from crm_members
    union all
    select * from billing_members
    union all
    select * from erp_members

),

final as (

    select
        {{ surrogate_key(['source_system', 'source_customer_id']) }} as customer_member_id,
        cast(customer_id as varchar) as customer_id,
        cast(source_system as varchar) as source_system,
        cast(source_customer_id as varchar) as source_customer_id,
        cast(crm_account_id as varchar) as crm_account_id,
        cast(billing_customer_id as varchar) as billing_customer_id,
        cast(erp_customer_id as varchar) as erp_customer_id,
        cast(match_method as varchar) as match_method,
        cast(match_confidence as decimal(3, 2)) as match_confidence,
        needs_review
    from unioned

)

select * from final
