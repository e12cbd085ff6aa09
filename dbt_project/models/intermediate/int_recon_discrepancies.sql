-- Every discrepancy between the three systems at the recon as-of instant, with its settlement
-- window (var `settlement_window_hours`, docs/exceptions.md "Timing"): one younger than its
-- type's window is in transit (recon_in_transit), the rest are exceptions (recon_exceptions).
-- `exception_id` hashes what the discrepancy is about (type, the ids in each system, the
-- field), so it is stable across runs and disappears once the systems agree again.
with

customers as (

    select * from {{ ref('int_recon_customers') }}

),

contracts as (

    select * from {{ ref('int_recon_contracts') }}

),

invoices as (

    select * from {{ ref('int_recon_invoices') }}

),

payments as (

    select * from {{ ref('int_recon_payments') }}

),

cash as (

    select * from {{ ref('int_recon_cash') }}

),

clock as (

    select * from {{ ref('int_recon_clock') }}

),

xref as (

    -- every record of every customer (one account may have a billing customer per currency
    -- and an ERP customer per subsidiary), each with its own review flag
    select * from {{ ref('customer_xref_members') }}

),

-- the records that hang on a match below var match_review_threshold (customer_xref
-- needs_review): the customers themselves, and their contracts, subscriptions, invoices and
-- payments. An exception about one of them needs a human's approval, never an automatic fix.
review_customers as (

    select
        crm_account_id,
        billing_customer_id,
        erp_customer_id
    from xref
    where needs_review

),

review_records as (

    select crm_account_id as record_id
    from review_customers
    where crm_account_id is not null
    union all
    select billing_customer_id
    from review_customers
    where billing_customer_id is not null
    union all
    select contract_id from {{ ref('stg_crm__contracts') }}
    where account_id in (select r.crm_account_id from review_customers as r)
    union all
    select subscription_id from {{ ref('stg_billing__subscriptions') }}
    where customer_id in (select r.billing_customer_id from review_customers as r)
    union all
    select invoice_id from {{ ref('fct_invoice') }}
    where billing_customer_id in (select r.billing_customer_id from review_customers as r)
    union all
    select payment_id from {{ ref('fct_payment') }}
    where billing_customer_id in (select r.billing_customer_id from review_customers as r)

),

review_erp_customers as (

    select erp_customer_id
    from review_customers
    where erp_customer_id is not null

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

unioned as (

    select * from customers
    union all
    select * from contracts
    union all
    select * from invoices
    union all
    select * from payments
    union all
    select * from cash

),

rules as (

    {{ exception_rules() }}

),

windows as (

    {{ settlement_windows() }}

),

enriched as (

    select
        unioned.*,
        rules.owner_system,
        rules.mirror_system,
        rules.correction_action,
        rules.base_severity,
        rules.is_money_changing,
        windows.window_hours,
        coalesce(fx.usd_per_unit, latest_fx.usd_per_unit) as usd_per_unit,
        clock.as_of_at,
        (
            unioned.crm_id in (select r.record_id from review_records as r)
            or unioned.billing_id in (select r.record_id from review_records as r)
            or (
                unioned.exception_type like 'customer%'
                and unioned.erp_id in (select r.erp_customer_id from review_erp_customers as r)
            )
        ) as depends_on_review_match
    from unioned
    inner join rules on unioned.exception_type = rules.exception_type
    inner join windows on unioned.exception_type = windows.exception_type
    cross join clock
    left join fx
        on
            unioned.currency_code = fx.currency_code
            and cast(unioned.detected_at as date) = fx.rate_date
    left join latest_fx on unioned.currency_code = latest_fx.currency_code

),

scored as (

    select
        *,
        -- a currency the ERP never rated has no USD delta (never 1:1; ops.dq_issues lists it)
        case
            when coalesce(amount_delta, 0) = 0 then cast(0 as decimal(38, 2))
            else {{ to_usd('amount_delta', 'usd_per_unit') }}
        end as amount_delta_usd,
        {{ days_between('detected_at', 'as_of_at') }} as age_days,
        -- the instant the item's window ends: the mirror should hold it by then
        {{ add_seconds('detected_at', 'window_hours * 3600') }} as settles_by_at,
        -- the end of the month the item is dated in (the first instant of the next month)
        cast({{ add_months("date_trunc('month', detected_at)", 1) }} as timestamp) as period_end_at
    from enriched

),

final as (

    select
        -- ids
        {{ surrogate_key(['exception_type', 'crm_id', 'billing_id', 'erp_id', 'field_name']) }}
            as exception_id,
        cast(exception_type as varchar) as exception_type,
        cast(crm_id as varchar) as crm_id,
        cast(billing_id as varchar) as billing_id,
        cast(erp_id as varchar) as erp_id,
        -- strings
        cast(case
            when base_severity = 'low' and age_days > {{ var('exception_escalation_days') }}
                then 'medium'
            when abs(amount_delta_usd) >= {{ var('critical_amount_usd', 10000) }} then 'critical'
            when
                base_severity = 'medium'
                and (
                    amount_delta_usd is null
                    or abs(amount_delta_usd) >= {{ var('approval_amount_usd', 1000) }}
                    or age_days > {{ var('exception_escalation_days') }}
                )
                then 'high'
            else base_severity
        end as varchar) as severity,
        cast(field_name as varchar) as field_name,
        cast(correct_value as varchar) as correct_value,
        cast(wrong_value as varchar) as wrong_value,
        cast(currency_code as varchar) as currency_code,
        cast(owner_system as varchar) as owner_system,
        cast(mirror_system as varchar) as mirror_system,
        cast(correction_action as varchar) as correction_action,
        -- numerics
        cast(amount_delta as decimal(38, 3)) as amount_delta,
        amount_delta_usd,
        cast(age_days as bigint) as age_days,
        -- booleans
        (
            is_money_changing
            or coalesce(depends_on_review_match, false)
            or amount_delta_usd is null
            or abs(amount_delta_usd) >= {{ var('approval_amount_usd', 1000) }}
        ) as requires_approval,
        -- timestamps
        cast(detected_at as timestamp) as detected_at,
        cast(as_of_at as timestamp) as as_of_at,
        -- timing: inside its window (entered at `detected_at`, settled by `settles_by_at`) a
        -- discrepancy is in transit, not an exception; a type without a window never is
        cast(window_hours as bigint) as window_hours,
        cast(settles_by_at as timestamp) as settles_by_at,
        cast(period_end_at as timestamp) as period_end_at,
        coalesce(window_hours > 0 and settles_by_at > as_of_at, false) as is_in_transit
    from scored

)

select * from final
