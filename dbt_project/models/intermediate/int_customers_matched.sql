-- CRM, billing and ERP customers matched: exact id links first (Salesforce ids compared on
-- their first 15 characters, case-sensitively), then tax id, e-mail/web
-- domain and normalized name, each candidate kept only when it is unambiguous. A Stripe
-- customer deleted since (gone from the customer list) is still known from its subscriptions,
-- whose CRM contract names the account.
with

accounts as (

    select
        account_id,
        account_name,
        account_type,
        tax_id,
        {{ normalize_company_name('account_name') }} as name_key,
        {{ email_or_url_domain('website') }} as domain_key
    from {{ ref('stg_crm__accounts') }}

),

billing as (

    select
        customer_id as billing_customer_id,
        crm_account_id,
        crm_account_link_column,
        {{ normalize_company_name('customer_name') }} as name_key,
        {{ email_or_url_domain('email') }} as domain_key
    from {{ ref('stg_billing__customers') }}

),

erp as (

    select
        erp_customer_id,
        external_id,
        tax_id,
        {{ normalize_company_name('company_name') }} as name_key,
        {{ email_or_url_domain('email') }} as domain_key
    from {{ ref('stg_erp__customers') }}

),

activated_contracts as (

    select distinct account_id
    from {{ ref('stg_crm__contracts') }}
    where contract_status = 'Activated'

),

billing_by_id as (

    select
        billing.billing_customer_id,
        accounts.account_id,
        'id' as match_method,
        cast(1.00 as decimal(3, 2)) as match_confidence,
        billing.crm_account_link_column as link_column
    from billing
    inner join accounts on {{ sf_id15('billing.crm_account_id') }} = {{ sf_id15('accounts.account_id') }}

),

billing_candidates as (

    select
        billing.billing_customer_id,
        accounts.account_id,
        case
            when
                billing.domain_key = accounts.domain_key
                and billing.name_key = accounts.name_key then 'domain_and_name'
            when billing.domain_key = accounts.domain_key then 'domain'
            else 'name'
        end as match_method,
        case
            when
                billing.domain_key = accounts.domain_key
                and billing.name_key = accounts.name_key then cast(0.95 as decimal(3, 2))
            when billing.domain_key = accounts.domain_key then cast(0.85 as decimal(3, 2))
            else cast(0.70 as decimal(3, 2))
        end as match_confidence
    from billing
    inner join accounts
        on
            billing.domain_key = accounts.domain_key
            or billing.name_key = accounts.name_key
    where
        billing.billing_customer_id not in (select b.billing_customer_id from billing_by_id as b)
        and accounts.account_id not in (select b.account_id from billing_by_id as b)

),

billing_fuzzy as (

    select
        billing_customer_id,
        account_id,
        match_method,
        match_confidence,
        cast(null as varchar) as link_column
    from billing_candidates
    -- keep a fuzzy match only when it is the single best candidate on both sides
    qualify
        count(*) over (partition by billing_customer_id, match_confidence) = 1
        and row_number() over (
            partition by billing_customer_id order by match_confidence desc
        ) = 1
        and row_number() over (
            partition by account_id order by match_confidence desc, billing_customer_id asc
        ) = 1

),

billing_deleted as (

    select
        subscriptions.customer_id as billing_customer_id,
        min(contracts.account_id) as account_id,
        'subscription_contract' as match_method,
        cast(0.90 as decimal(3, 2)) as match_confidence,
        min(subscriptions.crm_contract_link_column) as link_column
    from {{ ref('stg_billing__subscriptions') }} as subscriptions
    inner join {{ ref('stg_crm__contracts') }} as contracts
        on {{ sf_id15('subscriptions.crm_contract_id') }} = {{ sf_id15('contracts.contract_id') }}
    where
        subscriptions.customer_id not in (select b.billing_customer_id from billing as b)
        and contracts.account_id not in (select b.account_id from billing_by_id as b)
        and contracts.account_id not in (select f.account_id from billing_fuzzy as f)
    group by 1
    having count(distinct contracts.account_id) = 1

),

billing_matches as (

    select * from billing_by_id
    union all
    select * from billing_fuzzy
    union all
    select * from billing_deleted

),

erp_by_id as (

    select
        erp.erp_customer_id,
        accounts.account_id,
        'id' as match_method,
        cast(1.00 as decimal(3, 2)) as match_confidence
    from erp
    inner join accounts on {{ sf_id15('erp.external_id') }} = {{ sf_id15('accounts.account_id') }}

),

erp_candidates as (

    select
        erp.erp_customer_id,
        accounts.account_id,
        case
            when erp.tax_id = accounts.tax_id then 'tax_id'
            when
                erp.domain_key = accounts.domain_key
                and erp.name_key = accounts.name_key then 'domain_and_name'
            when erp.domain_key = accounts.domain_key then 'domain'
            else 'name'
        end as match_method,
        case
            when erp.tax_id = accounts.tax_id then cast(0.98 as decimal(3, 2))
            when
                erp.domain_key = accounts.domain_key
                and erp.name_key = accounts.name_key then cast(0.95 as decimal(3, 2))
            when erp.domain_key = accounts.domain_key then cast(0.85 as decimal(3, 2))
            else cast(0.70 as decimal(3, 2))
        end as match_confidence
    from erp
    inner join accounts
        on
            erp.tax_id = accounts.tax_id
            or erp.domain_key = accounts.domain_key
            or erp.name_key = accounts.name_key
    where
        erp.erp_customer_id not in (select e.erp_customer_id from erp_by_id as e)
        and accounts.account_id not in (select e.account_id from erp_by_id as e)

),

erp_fuzzy as (

    select
        erp_customer_id,
        account_id,
        match_method,
        match_confidence
    from erp_candidates
    qualify
        count(*) over (partition by erp_customer_id, match_confidence) = 1
        and row_number() over (
            partition by erp_customer_id order by match_confidence desc
        ) = 1
        and row_number() over (
            partition by account_id order by match_confidence desc, erp_customer_id asc
        ) = 1

),

erp_matches as (

    select * from erp_by_id
    union all
    select * from erp_fuzzy

),

crm_side as (

    select
        accounts.account_id as crm_account_id,
        billing_matches.billing_customer_id,
        erp_matches.erp_customer_id,
        billing_matches.match_method as billing_match_method,
        billing_matches.match_confidence as billing_match_confidence,
        erp_matches.match_method as erp_match_method,
        erp_matches.match_confidence as erp_match_confidence,
        billing_matches.link_column as billing_link_column
    from accounts
    left join billing_matches on accounts.account_id = billing_matches.account_id
    left join erp_matches on accounts.account_id = erp_matches.account_id
    -- every account tied to billing or the ERP, and customers by behaviour (an activated
    -- contract) or by a picklist value the company configured
    where
        accounts.account_id in (select c.account_id from activated_contracts as c)
        or accounts.account_type in {{ customer_account_types_sql() or '(null)' }}
        or billing_matches.account_id is not null
        or erp_matches.account_id is not null

),

billing_orphans as (

    select
        cast(null as varchar) as crm_account_id,
        billing.billing_customer_id,
        cast(null as bigint) as erp_customer_id,
        cast(null as varchar) as billing_match_method,
        cast(null as decimal(3, 2)) as billing_match_confidence,
        cast(null as varchar) as erp_match_method,
        cast(null as decimal(3, 2)) as erp_match_confidence,
        cast(null as varchar) as billing_link_column
    from billing
    where billing.billing_customer_id not in (select m.billing_customer_id from billing_matches as m)

),

erp_orphans as (

    select
        cast(null as varchar) as crm_account_id,
        cast(null as varchar) as billing_customer_id,
        erp.erp_customer_id,
        cast(null as varchar) as billing_match_method,
        cast(null as decimal(3, 2)) as billing_match_confidence,
        cast(null as varchar) as erp_match_method,
        cast(null as decimal(3, 2)) as erp_match_confidence,
        cast(null as varchar) as billing_link_column
    from erp
    where erp.erp_customer_id not in (select m.erp_customer_id from erp_matches as m)

),

final as (

    select * from crm_side
    union all
    select * from billing_orphans
    union all
    select * from erp_orphans

)

select * from final
