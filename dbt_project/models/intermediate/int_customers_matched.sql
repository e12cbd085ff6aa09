-- CRM, billing and ERP customers matched. An analyst's decision in the seed
-- customer_match_overrides wins over every rule (match: that pair, method `override`;
-- no_match: never that pair, or with no account never any). Then exact id links (Salesforce ids
-- compared on their first 15 characters, case-sensitively), then tax id, e-mail/web domain and
-- the Unicode-aware name key (macro match_name_key), each candidate kept only when it is
-- unambiguous. Country, currency and the ERP subsidiary are evidence: each one that conflicts
-- with the CRM account lowers a rule match's confidence by 0.10 (customer_xref flags a match
-- below var match_review_threshold as needs_review). A Stripe customer deleted since (gone from
-- the customer list) is still known from its subscriptions, whose CRM contract names the account.
-- One account may have many billing customers (one per currency) and many ERP customers (one per
-- subsidiary). One row per billing customer with the ERP customer that books it (its
-- counterpart: the account's ERP customer in its currency, else the one whose subsidiary keeps
-- that currency; an account with exactly one of each pairs them whatever the currency), one per
-- ERP customer no billing customer pairs with, and one per customer account with neither; then
-- the billing and ERP records that match no account, alone.
with

overrides as (

    select
        nullif(trim(cast(crm_account_id as varchar)), '') as crm_account_id,
        nullif(trim(cast(billing_customer_id as varchar)), '') as billing_customer_id,
        nullif(trim(cast(erp_customer_id as varchar)), '') as erp_customer_id,
        lower(trim(cast(decision as varchar))) as decision
    from {{ ref('customer_match_overrides') }}

),

billing_vetoes as (

    -- a no_match names a pair never to tie (without an account: the customer ties to none)
    select
        crm_account_id,
        billing_customer_id
    from overrides
    where decision = 'no_match' and billing_customer_id is not null

),

erp_vetoes as (

    select
        crm_account_id,
        erp_customer_id
    from overrides
    where decision = 'no_match' and erp_customer_id is not null

),

erp_currencies as (

    select * from {{ ref('stg_erp__currencies') }}

),

subsidiaries as (

    select * from {{ ref('stg_erp__subsidiaries') }}

),

accounts as (

    select
        account_id,
        account_name,
        account_type,
        tax_id,
        {{ match_code('billing_country_code') }} as country_code,
        {{ match_code('currency_code') }} as currency_code,
        {{ match_name_key('account_name') }} as name_key,
        {{ email_or_url_domain('website') }} as domain_key
    from {{ ref('stg_crm__accounts') }}

),

billing as (

    select
        customer_id as billing_customer_id,
        crm_account_id,
        crm_account_link_column,
        {{ match_code('address_country_code') }} as country_code,
        {{ match_code('currency_code') }} as currency_code,
        {{ match_name_key('customer_name') }} as name_key,
        {{ email_or_url_domain('email') }} as domain_key
    from {{ ref('stg_billing__customers') }}

),

erp as (

    select
        customers.erp_customer_id,
        customers.external_id,
        customers.tax_id,
        {{ match_code('erp_currencies.currency_code') }} as currency_code,
        {{ match_code('subsidiaries.country_code') }} as subsidiary_country_code,
        {{ match_code('subsidiary_currencies.currency_code') }} as subsidiary_currency_code,
        coalesce(subsidiaries.parent_subsidiary_id is null, false) as is_parent_subsidiary,
        {{ match_name_key('customers.company_name') }} as name_key,
        {{ email_or_url_domain('customers.email') }} as domain_key
    from {{ ref('stg_erp__customers') }} as customers
    left join erp_currencies on customers.currency_id = erp_currencies.currency_id
    left join subsidiaries on customers.subsidiary_id = subsidiaries.subsidiary_id
    left join erp_currencies as subsidiary_currencies
        on subsidiaries.currency_id = subsidiary_currencies.currency_id

),

activated_contracts as (

    select distinct account_id
    from {{ ref('stg_crm__contracts') }}
    where contract_status = 'Activated'

),

billing_override as (

    select
        overrides.billing_customer_id,
        accounts.account_id,
        'override' as match_method,
        cast(1.00 as decimal(3, 2)) as match_confidence,
        cast(null as varchar) as link_column,
        cast(null as varchar) as currency_code
    from overrides
    inner join accounts
        on {{ sf_id15('overrides.crm_account_id') }} = {{ sf_id15('accounts.account_id') }}
    where overrides.decision = 'match' and overrides.billing_customer_id is not null

),

billing_pairs as (

    -- every pair a rule could tie: an id link, or a shared domain or name key, unless an
    -- override already decided the customer or vetoed the pair
    select
        billing.billing_customer_id,
        accounts.account_id,
        billing.crm_account_link_column,
        {{ sf_id15('billing.crm_account_id') }} = {{ sf_id15('accounts.account_id') }} as is_id_link,
        coalesce(billing.domain_key = accounts.domain_key, false) as same_domain,
        coalesce(billing.name_key = accounts.name_key, false) as same_name,
        (
            case when billing.country_code <> accounts.country_code then 1 else 0 end
            + case when billing.currency_code <> accounts.currency_code then 1 else 0 end
        ) as conflicts
    from billing
    inner join accounts
        on
            {{ sf_id15('billing.crm_account_id') }} = {{ sf_id15('accounts.account_id') }}
            or billing.domain_key = accounts.domain_key
            or billing.name_key = accounts.name_key
    where
        billing.billing_customer_id not in (select o.billing_customer_id from billing_override as o)
        and not exists (
            select v.billing_customer_id
            from billing_vetoes as v
            where
                v.billing_customer_id = billing.billing_customer_id
                and (
                    v.crm_account_id is null
                    or {{ sf_id15('v.crm_account_id') }} = {{ sf_id15('accounts.account_id') }}
                )
        )

),

billing_by_id as (

    select
        billing_customer_id,
        account_id,
        'id' as match_method,
        cast(1.00 as decimal(3, 2)) as match_confidence,
        crm_account_link_column as link_column,
        cast(null as varchar) as currency_code
    from billing_pairs
    where is_id_link

),

billing_candidates as (

    select
        billing_customer_id,
        account_id,
        case
            when same_domain and same_name then 'domain_and_name'
            when same_domain then 'domain'
            else 'name'
        end as match_method,
        case
            when same_domain and same_name then 0.95
            when same_domain then 0.85
            else 0.70
        end as rule_confidence,
        conflicts
    from billing_pairs
    where
        (same_domain or same_name)
        and billing_customer_id not in (select b.billing_customer_id from billing_by_id as b)
        -- an account with an id link or an override takes no fuzzy match besides
        and account_id not in (select b.account_id from billing_by_id as b)
        and account_id not in (select o.account_id from billing_override as o)

),

billing_fuzzy as (

    select
        billing_customer_id,
        account_id,
        match_method,
        cast(
            case when rule_confidence - 0.10 * conflicts < 0 then 0 else rule_confidence - 0.10 * conflicts end
            as decimal(3, 2)
        ) as match_confidence,
        cast(null as varchar) as link_column,
        cast(null as varchar) as currency_code
    from billing_candidates
    -- keep a fuzzy match only when it is the single best candidate on both sides (by rule)
    qualify
        count(*) over (partition by billing_customer_id, rule_confidence) = 1
        and row_number() over (
            partition by billing_customer_id order by rule_confidence desc
        ) = 1
        and row_number() over (
            partition by account_id order by rule_confidence desc, billing_customer_id asc
        ) = 1

),

billing_deleted as (

    select
        subscriptions.customer_id as billing_customer_id,
        min(contracts.account_id) as account_id,
        'subscription_contract' as match_method,
        cast(0.90 as decimal(3, 2)) as match_confidence,
        min(subscriptions.crm_contract_link_column) as link_column,
        min({{ match_code('subscriptions.currency_code') }}) as currency_code
    from {{ ref('stg_billing__subscriptions') }} as subscriptions
    inner join {{ ref('stg_crm__contracts') }} as contracts
        on {{ sf_id15('subscriptions.crm_contract_id') }} = {{ sf_id15('contracts.contract_id') }}
    where
        subscriptions.customer_id not in (select b.billing_customer_id from billing as b)
        and subscriptions.customer_id not in (select o.billing_customer_id from billing_override as o)
        and not exists (
            select v.billing_customer_id
            from billing_vetoes as v
            where
                v.billing_customer_id = subscriptions.customer_id
                and (
                    v.crm_account_id is null
                    or {{ sf_id15('v.crm_account_id') }} = {{ sf_id15('contracts.account_id') }}
                )
        )
    group by 1
    having count(distinct contracts.account_id) = 1

),

billing_matches as (

    select * from billing_override
    union all
    select * from billing_by_id
    union all
    select * from billing_fuzzy
    union all
    select * from billing_deleted

),

erp_override as (

    select
        erp.erp_customer_id,
        accounts.account_id,
        'override' as match_method,
        cast(1.00 as decimal(3, 2)) as match_confidence
    from overrides
    inner join accounts
        on {{ sf_id15('overrides.crm_account_id') }} = {{ sf_id15('accounts.account_id') }}
    inner join erp on overrides.erp_customer_id = cast(erp.erp_customer_id as varchar)
    where overrides.decision = 'match'

),

erp_pairs as (

    select
        erp.erp_customer_id,
        accounts.account_id,
        {{ sf_id15('erp.external_id') }} = {{ sf_id15('accounts.account_id') }} as is_id_link,
        coalesce(erp.tax_id = accounts.tax_id, false) as same_tax_id,
        coalesce(erp.domain_key = accounts.domain_key, false) as same_domain,
        coalesce(erp.name_key = accounts.name_key, false) as same_name,
        (
            case when erp.currency_code <> accounts.currency_code then 1 else 0 end
            -- the subsidiary keeps the customer's currency, or is that of its country, or the
            -- parent: any other is a conflict
            + case
                when
                    erp.subsidiary_country_code is null
                    or erp.is_parent_subsidiary
                    or erp.subsidiary_currency_code = accounts.currency_code
                    or erp.subsidiary_country_code = accounts.country_code
                    then 0
                else 1
            end
        ) as conflicts
    from erp
    inner join accounts
        on
            {{ sf_id15('erp.external_id') }} = {{ sf_id15('accounts.account_id') }}
            or erp.tax_id = accounts.tax_id
            or erp.domain_key = accounts.domain_key
            or erp.name_key = accounts.name_key
    where
        erp.erp_customer_id not in (select o.erp_customer_id from erp_override as o)
        and not exists (
            select v.erp_customer_id
            from erp_vetoes as v
            where
                v.erp_customer_id = cast(erp.erp_customer_id as varchar)
                and (
                    v.crm_account_id is null
                    or {{ sf_id15('v.crm_account_id') }} = {{ sf_id15('accounts.account_id') }}
                )
        )

),

erp_by_id as (

    select
        erp_customer_id,
        account_id,
        'id' as match_method,
        cast(1.00 as decimal(3, 2)) as match_confidence
    from erp_pairs
    where is_id_link

),

erp_candidates as (

    select
        erp_customer_id,
        account_id,
        case
            when same_tax_id then 'tax_id'
            when same_domain and same_name then 'domain_and_name'
            when same_domain then 'domain'
            else 'name'
        end as match_method,
        case
            when same_tax_id then 0.98
            when same_domain and same_name then 0.95
            when same_domain then 0.85
            else 0.70
        end as rule_confidence,
        conflicts
    from erp_pairs
    where
        (same_tax_id or same_domain or same_name)
        and erp_customer_id not in (select e.erp_customer_id from erp_by_id as e)
        and account_id not in (select e.account_id from erp_by_id as e)
        and account_id not in (select o.account_id from erp_override as o)

),

erp_fuzzy as (

    select
        erp_customer_id,
        account_id,
        match_method,
        cast(
            case when rule_confidence - 0.10 * conflicts < 0 then 0 else rule_confidence - 0.10 * conflicts end
            as decimal(3, 2)
        ) as match_confidence
    from erp_candidates
    qualify
        count(*) over (partition by erp_customer_id, rule_confidence) = 1
        and row_number() over (
            partition by erp_customer_id order by rule_confidence desc
        ) = 1
        and row_number() over (
            partition by account_id order by rule_confidence desc, erp_customer_id asc
        ) = 1

),

erp_matches as (

    select * from erp_override
    union all
    select * from erp_by_id
    union all
    select * from erp_fuzzy

),

billing_members as (

    -- the currency of a listed customer, else (deleted since) of its subscriptions
    select
        billing_matches.billing_customer_id,
        billing_matches.account_id,
        billing_matches.match_method,
        billing_matches.match_confidence,
        billing_matches.link_column,
        coalesce(billing.currency_code, billing_matches.currency_code) as currency_code,
        count(*) over (partition by billing_matches.account_id) as account_member_count
    from billing_matches
    left join billing on billing_matches.billing_customer_id = billing.billing_customer_id

),

erp_members as (

    select
        erp_matches.erp_customer_id,
        erp_matches.account_id,
        erp_matches.match_method,
        erp_matches.match_confidence,
        erp.currency_code,
        erp.subsidiary_currency_code,
        count(*) over (partition by erp_matches.account_id) as account_member_count
    from erp_matches
    inner join erp on erp_matches.erp_customer_id = erp.erp_customer_id

),

counterparts as (

    -- the ERP customer that books a billing customer: in its currency, else in a subsidiary
    -- keeping it; with exactly one of each on the account, that one (as one customer always was)
    select
        billing_members.billing_customer_id,
        erp_members.erp_customer_id
    from billing_members
    inner join erp_members on billing_members.account_id = erp_members.account_id
    where
        erp_members.currency_code = billing_members.currency_code
        or erp_members.subsidiary_currency_code = billing_members.currency_code
        or (billing_members.account_member_count = 1 and erp_members.account_member_count = 1)
    qualify row_number() over (
        partition by billing_members.billing_customer_id
        order by
            case
                when erp_members.currency_code = billing_members.currency_code then 0
                when erp_members.subsidiary_currency_code = billing_members.currency_code then 1
                else 2
            end,
            erp_members.erp_customer_id
    ) = 1

),

crm_side as (

    -- each billing customer of an account with its ERP counterpart, then each ERP customer of
    -- the account no billing customer pairs with
    select
        accounts.account_id as crm_account_id,
        billing_members.billing_customer_id,
        erp_members.erp_customer_id,
        billing_members.match_method as billing_match_method,
        billing_members.match_confidence as billing_match_confidence,
        erp_members.match_method as erp_match_method,
        erp_members.match_confidence as erp_match_confidence,
        billing_members.link_column as billing_link_column
    from accounts
    inner join billing_members on accounts.account_id = billing_members.account_id
    left join counterparts on billing_members.billing_customer_id = counterparts.billing_customer_id
    left join erp_members on counterparts.erp_customer_id = erp_members.erp_customer_id
    union all
    select
        accounts.account_id as crm_account_id,
        cast(null as varchar) as billing_customer_id,
        erp_members.erp_customer_id,
        cast(null as varchar) as billing_match_method,
        cast(null as decimal(3, 2)) as billing_match_confidence,
        erp_members.match_method as erp_match_method,
        erp_members.match_confidence as erp_match_confidence,
        cast(null as varchar) as billing_link_column
    from accounts
    inner join erp_members on accounts.account_id = erp_members.account_id
    where erp_members.erp_customer_id not in (select c.erp_customer_id from counterparts as c)
    union all
    -- a customer (by behaviour: an activated contract, or by a picklist value the company
    -- configured) tied to neither billing nor the ERP
    select
        accounts.account_id as crm_account_id,
        cast(null as varchar) as billing_customer_id,
        cast(null as bigint) as erp_customer_id,
        cast(null as varchar) as billing_match_method,
        cast(null as decimal(3, 2)) as billing_match_confidence,
        cast(null as varchar) as erp_match_method,
        cast(null as decimal(3, 2)) as erp_match_confidence,
        cast(null as varchar) as billing_link_column
    from accounts
    where
        (
            accounts.account_id in (select c.account_id from activated_contracts as c)
            or accounts.account_type in {{ customer_account_types_sql() or '(null)' }}
        )
        and accounts.account_id not in (select b.account_id from billing_members as b)
        and accounts.account_id not in (select e.account_id from erp_members as e)

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
