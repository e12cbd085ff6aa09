-- Which matched customers are customers, decided by behaviour and not by a picklist label:
-- an activated CRM contract, a live billing subscription (active or past_due, found through the
-- customer or its contract) or a paid invoice; else an Account.Type the company lists in the
-- `customer_account_types` var. `customer_rule` says which held first, in that order. A live
-- subscription or a paid invoice of any of its billing customers counts (customer_xref_members).
with

xref as (

    select * from {{ ref('customer_xref') }}

),

billing_members as (

    select
        customer_id,
        billing_customer_id
    from {{ ref('customer_xref_members') }}
    where source_system = 'billing'

),

accounts as (

    select * from {{ ref('stg_crm__accounts') }}

),

contracts as (

    select * from {{ ref('stg_crm__contracts') }}

),

subscriptions as (

    select * from {{ ref('stg_billing__subscriptions') }}

),

invoices as (

    select * from {{ ref('stg_billing__invoices') }}

),

activated as (

    select distinct account_id
    from contracts
    where contract_status = 'Activated'

),

live_by_customer as (

    select distinct billing_members.customer_id
    from subscriptions
    inner join billing_members on subscriptions.customer_id = billing_members.billing_customer_id
    where subscriptions.subscription_status in ('active', 'past_due')

),

live_by_contract as (

    select distinct contracts.account_id
    from subscriptions
    inner join contracts
        on {{ sf_id15('subscriptions.crm_contract_id') }} = {{ sf_id15('contracts.contract_id') }}
    where subscriptions.subscription_status in ('active', 'past_due')

),

paid as (

    select distinct billing_members.customer_id
    from invoices
    inner join billing_members on invoices.customer_id = billing_members.billing_customer_id
    where invoices.invoice_status = 'paid' and invoices.total > 0

),

classified as (

    select
        xref.customer_id,
        xref.crm_account_id,
        case
            when activated.account_id is not null then 'activated_contract'
            when
                live_by_customer.customer_id is not null
                or live_by_contract.account_id is not null then 'live_subscription'
            when paid.customer_id is not null then 'paid_invoice'
            when accounts.account_type in {{ customer_account_types_sql() or '(null)' }} then 'account_type'
        end as customer_rule
    from xref
    left join accounts on xref.crm_account_id = accounts.account_id
    left join activated on xref.crm_account_id = activated.account_id
    left join live_by_customer on xref.customer_id = live_by_customer.customer_id
    left join live_by_contract on xref.crm_account_id = live_by_contract.account_id
    left join paid on xref.customer_id = paid.customer_id

),

final as (

    select
        customer_id,
        crm_account_id,
        customer_rule is not null as is_customer,
        customer_rule
    from classified

)

select * from final
