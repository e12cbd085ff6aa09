with

matched as (

    select * from {{ ref('int_customers_matched') }}

),

final as (

    select
        {{ surrogate_key(["coalesce(crm_account_id, billing_customer_id, 'erp:' || cast(erp_customer_id as varchar))"]) }} as customer_id,
        cast(crm_account_id as varchar) as crm_account_id,
        cast(billing_customer_id as varchar) as billing_customer_id,
        cast(erp_customer_id as varchar) as erp_customer_id,
        cast(billing_match_method as varchar) as billing_match_method,
        cast(erp_match_method as varchar) as erp_match_method,
        cast(case
            when crm_account_id is null then 'unmatched'
            when
                coalesce(billing_match_method, 'id') = 'id'
                and coalesce(erp_match_method, 'id') = 'id' then 'id'
            when
                coalesce(billing_match_method, 'id') in ('id', 'override')
                and coalesce(erp_match_method, 'id') in ('id', 'override') then 'override'
            else 'fuzzy'
        end as varchar) as match_method,
        cast(case
            when billing_match_confidence is null then erp_match_confidence
            when erp_match_confidence is null then billing_match_confidence
            when billing_match_confidence < erp_match_confidence then billing_match_confidence
            else erp_match_confidence
        end as decimal(3, 2)) as match_confidence,
        crm_account_id is not null as has_crm_account,
        billing_customer_id is not null as has_billing_customer,
        erp_customer_id is not null as has_erp_customer,
        -- the landed billing column that held the CRM id (an id link), else null
        cast(billing_link_column as varchar) as billing_link_column,
        -- a rule match below var match_review_threshold is a review item: it stays, and no
        -- correction that depends on it is applied without a human (recon requires_approval)
        coalesce(
            crm_account_id is not null
            and (
                billing_match_confidence < {{ var('match_review_threshold') }}
                or erp_match_confidence < {{ var('match_review_threshold') }}
            ),
            false
        ) as needs_review
    from matched

)

select * from final
