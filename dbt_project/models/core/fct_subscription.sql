-- Stripe subscriptions with their CRM contract and current MRR (USD at the latest ERP rate):
-- `is_live` and `mrr_amount` are the subscription's at the as-of month end under the one MRR
-- status rule and definition (docs/metrics.md, MRR and ARR; int_mrr_subscription_months), so
-- they add up to kpi_monthly's MRR of that month.
with

subscriptions as (

    select * from {{ ref('stg_billing__subscriptions') }}

),

items as (

    select * from {{ ref('int_subscription_items_coded') }}

),

xref as (

    -- any billing customer of a canonical customer (one per currency) rolls up to it
    select * from {{ ref('customer_xref_members') }}
    where source_system = 'billing'

),

current_mrr as (

    select subscription_months.*
    from {{ ref('int_mrr_subscription_months') }} as subscription_months
    where subscription_months.month_start = (select max(month_start) as month_start from {{ ref('int_months') }})

),

fx as (

    select * from {{ ref('int_fx_rates_daily') }}

),

latest_fx as (

    select
        currency_code,
        usd_per_unit
    from fx
    qualify row_number() over (partition by currency_code order by rate_date desc) = 1

),

item_totals as (

    select
        subscription_id,
        count(*) as item_count,
        sum(quantity) as total_quantity,
        sum(mrr_amount) as mrr_amount
    from items
    group by 1

),

final as (

    select
        -- ids
        cast(subscriptions.subscription_id as varchar) as subscription_id,
        cast(subscriptions.customer_id as varchar) as billing_customer_id,
        xref.customer_id,
        cast(subscriptions.crm_contract_id as varchar) as crm_contract_id,
        -- strings
        cast(subscriptions.subscription_status as varchar) as subscription_status,
        cast(subscriptions.collection_method as varchar) as collection_method,
        cast(subscriptions.currency_code as varchar) as currency_code,
        cast(subscriptions.cancellation_reason as varchar) as cancellation_reason,
        -- numerics
        cast(coalesce(item_totals.item_count, 0) as bigint) as item_count,
        cast(coalesce(item_totals.total_quantity, 0) as bigint) as total_quantity,
        cast(coalesce(current_mrr.mrr_amount, 0) as decimal(38, 3)) as mrr_amount,
        {{ to_usd('coalesce(current_mrr.mrr_amount, 0)', 'latest_fx.usd_per_unit') }} as mrr_amount_usd,
        -- booleans
        current_mrr.subscription_id is not null as is_live,
        subscriptions.is_cancel_at_period_end,
        -- timestamps
        cast(subscriptions.started_at as timestamp) as started_at,
        cast(subscriptions.current_period_start_at as timestamp) as current_period_start_at,
        cast(subscriptions.current_period_end_at as timestamp) as current_period_end_at,
        cast(subscriptions.canceled_at as timestamp) as canceled_at,
        cast(subscriptions.ended_at as timestamp) as ended_at
    from subscriptions
    left join item_totals on subscriptions.subscription_id = item_totals.subscription_id
    left join current_mrr on subscriptions.subscription_id = current_mrr.subscription_id
    left join xref on subscriptions.customer_id = xref.billing_customer_id
    left join latest_fx on subscriptions.currency_code = latest_fx.currency_code

)

select * from final
