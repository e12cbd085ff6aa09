-- Contract discrepancies: an activated contract without a live subscription, and a live
-- subscription whose quantities differ from the contract's current terms (CRM owns them).
with

contracts as (

    select * from {{ ref('stg_crm__contracts') }}

),

terms as (

    select * from {{ ref('int_contract_terms_current') }}

),

subscriptions as (

    select * from {{ ref('stg_billing__subscriptions') }}

),

items as (

    select * from {{ ref('int_subscription_items_coded') }}

),

live_subscriptions as (

    -- the contract as the CRM spells its id (a link may hold the 15-character form)
    select
        subscriptions.subscription_id,
        contracts.contract_id as crm_contract_id,
        subscriptions.created_at
    from subscriptions
    inner join contracts
        on {{ sf_id15('subscriptions.crm_contract_id') }} = {{ sf_id15('contracts.contract_id') }}
    where subscriptions.subscription_status in ('active', 'past_due')
    qualify row_number() over (
        partition by contracts.contract_id order by subscriptions.created_at desc
    ) = 1

),

activated as (

    select
        contract_id,
        activated_at,
        last_modified_at
    from contracts
    where contract_status = 'Activated'

),

subscription_missing as (

    select
        'subscription_missing' as exception_type,
        activated.contract_id as crm_id,
        cast(null as varchar) as billing_id,
        cast(null as varchar) as erp_id,
        cast(null as varchar) as field_name,
        cast(null as varchar) as correct_value,
        cast(null as varchar) as wrong_value,
        cast(null as varchar) as currency_code,
        cast(null as decimal(38, 3)) as amount_delta,
        activated.activated_at as detected_at
    from activated
    left join live_subscriptions on activated.contract_id = live_subscriptions.crm_contract_id
    where live_subscriptions.subscription_id is null

),

contract_quantities as (

    select
        terms.contract_id,
        terms.product_code,
        cast(terms.quantity as bigint) as quantity,
        terms.close_date
    from terms
    inner join activated on terms.contract_id = activated.contract_id

),

subscription_quantities as (

    select
        live_subscriptions.crm_contract_id as contract_id,
        live_subscriptions.subscription_id,
        items.product_code,
        cast(sum(items.quantity) as bigint) as quantity
    from live_subscriptions
    inner join items on live_subscriptions.subscription_id = items.subscription_id
    group by 1, 2, 3

),

compared as (

    select
        coalesce(contract_quantities.contract_id, subscription_quantities.contract_id)
            as contract_id,
        coalesce(contract_quantities.product_code, subscription_quantities.product_code)
            as product_code,
        coalesce(contract_quantities.quantity, 0) as contract_quantity,
        coalesce(subscription_quantities.quantity, 0) as subscription_quantity
    from contract_quantities
    full outer join subscription_quantities
        on
            contract_quantities.contract_id = subscription_quantities.contract_id
            and contract_quantities.product_code = subscription_quantities.product_code

),

quantity_mismatch as (

    select
        'contract_subscription_mismatch' as exception_type,
        compared.contract_id as crm_id,
        live_subscriptions.subscription_id as billing_id,
        cast(null as varchar) as erp_id,
        'quantity:' || compared.product_code as field_name,
        cast(compared.contract_quantity as varchar) as correct_value,
        cast(compared.subscription_quantity as varchar) as wrong_value,
        cast(null as varchar) as currency_code,
        cast(null as decimal(38, 3)) as amount_delta,
        activated.last_modified_at as detected_at
    from compared
    inner join activated on compared.contract_id = activated.contract_id
    inner join live_subscriptions on compared.contract_id = live_subscriptions.crm_contract_id
    where compared.contract_quantity <> compared.subscription_quantity

),

final as (

    select * from subscription_missing
    union all
    select * from quantity_mismatch

)

select * from final
