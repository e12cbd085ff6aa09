-- One row per canonical customer (the CRM account; a billing or ERP customer tied to no account
-- is its own), with how its systems' records were tied. An account may have many billing
-- customers (one per currency) and many ERP customers (one per subsidiary): every one of them
-- is a row of customer_xref_members; here billing_customer_id and erp_customer_id are its
-- primary pair (a billing customer with its ERP counterpart first, then by id), kept for BI,
-- and the counts say how many there are. The method, confidence and review flag cover them all.
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
        cast(billing_link_column as varchar) as billing_link_column,
        coalesce(billing_match_method, 'id') = 'id' and coalesce(erp_match_method, 'id') = 'id'
            as is_id,
        coalesce(billing_match_method, 'id') in ('id', 'override')
        and coalesce(erp_match_method, 'id') in ('id', 'override') as is_id_or_override,
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

),

customers as (

    select
        customer_id,
        count(distinct billing_customer_id) as billing_customer_count,
        count(distinct erp_customer_id) as erp_customer_count,
        bool_and(is_id) as is_id,
        bool_and(is_id_or_override) as is_id_or_override,
        min(billing_match_confidence) as billing_match_confidence,
        min(erp_match_confidence) as erp_match_confidence,
        min(cast(erp_customer_id as bigint)) as first_erp_customer_id,
        bool_or(needs_review) as needs_review
    from pairs
    group by 1

),

erp_members as (

    select distinct
        customer_id,
        erp_customer_id,
        erp_match_method
    from pairs
    where erp_customer_id is not null

),

primary_pairs as (

    select *
    from pairs
    qualify row_number() over (
        partition by customer_id
        order by
            billing_customer_id is null,
            erp_customer_id is null,
            billing_customer_id,
            length(erp_customer_id),
            erp_customer_id
    ) = 1

),

final as (

    select
        primary_pairs.customer_id,
        primary_pairs.crm_account_id,
        primary_pairs.billing_customer_id,
        -- the primary billing customer's ERP counterpart, else the account's first ERP customer
        coalesce(
            primary_pairs.erp_customer_id, cast(customers.first_erp_customer_id as varchar)
        ) as erp_customer_id,
        primary_pairs.billing_match_method,
        case
            when primary_pairs.erp_customer_id is not null then primary_pairs.erp_match_method
            else first_erp.erp_match_method
        end as erp_match_method,
        cast(case
            when primary_pairs.crm_account_id is null then 'unmatched'
            when customers.is_id then 'id'
            when customers.is_id_or_override then 'override'
            else 'fuzzy'
        end as varchar) as match_method,
        -- the lowest confidence of every link of the customer
        cast(case
            when customers.billing_match_confidence is null then customers.erp_match_confidence
            when customers.erp_match_confidence is null then customers.billing_match_confidence
            when customers.billing_match_confidence < customers.erp_match_confidence
                then customers.billing_match_confidence
            else customers.erp_match_confidence
        end as decimal(3, 2)) as match_confidence,
        primary_pairs.crm_account_id is not null as has_crm_account,
        customers.billing_customer_count > 0 as has_billing_customer,
        customers.erp_customer_count > 0 as has_erp_customer,
        -- the landed billing column that held the CRM id (an id link), else null
        primary_pairs.billing_link_column,
        customers.needs_review,
        -- how many billing (one per currency) and ERP (one per subsidiary) customers it has
        cast(customers.billing_customer_count as bigint) as billing_customer_count,
        cast(customers.erp_customer_count as bigint) as erp_customer_count
    from primary_pairs
    inner join customers on primary_pairs.customer_id = customers.customer_id
    left join erp_members as first_erp
        on
            customers.customer_id = first_erp.customer_id
            and cast(customers.first_erp_customer_id as varchar) = first_erp.erp_customer_id

)

select * from final
