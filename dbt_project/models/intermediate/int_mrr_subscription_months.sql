-- MRR of each Stripe subscription at each month end it counts at (docs/metrics.md, MRR and
-- ARR): the status rule (macro mrr_subscription_counts), each licensed recurring item's
-- quantity in force then (its latest quantity event) times its unit price, the period amount
-- after the subscription's recurring discount in force then (percent_off or amount_off;
-- forever or repeating, `once` excluded), over the months of the price's interval x
-- interval_count, rounded once per subscription to the currency's minor unit.
with

events as (

    select * from {{ ref('int_subscription_quantity_events') }}
    union all
    select * from {{ ref('int_subscription_amendments_confirmed') }}

),

subscriptions as (

    select * from {{ ref('stg_billing__subscriptions') }}

),

prices as (

    select * from {{ ref('stg_billing__prices') }}

),

discounts as (

    select * from {{ ref('stg_billing__subscription_discounts') }}

),

months as (

    select * from {{ ref('int_months') }}

),

xref as (

    select
        billing_customer_id,
        min(customer_id) as customer_id,
        bool_or(crm_account_id is not null) as is_customer_linked
    from {{ ref('customer_xref_members') }}
    where source_system = 'billing'
    group by 1

),

deduplicated as (

    select *
    from events
    qualify row_number() over (
        partition by subscription_id, product_code, effective_at
        order by event_rank desc, quantity desc
    ) = 1

),

intervals as (

    select
        subscription_id,
        product_code,
        price_id,
        quantity,
        effective_at as valid_from,
        lead(effective_at) over (
            partition by subscription_id, product_code order by effective_at
        ) as valid_to
    from deduplicated

),

subscription_months as (

    select
        months.month_start,
        months.month_end_at,
        subscriptions.subscription_id,
        subscriptions.customer_id as billing_customer_id,
        subscriptions.currency_code
    from subscriptions
    inner join months on {{ mrr_subscription_counts('subscriptions', 'months.month_end_at') }}

),

periods as (

    -- Stripe bills every licensed item of a subscription on one interval
    select
        subscription_months.month_start,
        subscription_months.subscription_id,
        sum(prices.unit_amount_minor * intervals.quantity) as period_amount_minor,
        max(prices.recurring_interval) as recurring_interval,
        max(coalesce(prices.recurring_interval_count, 1)) as recurring_interval_count
    from subscription_months
    inner join intervals
        on
            subscription_months.subscription_id = intervals.subscription_id
            and subscription_months.month_end_at > intervals.valid_from
            and (intervals.valid_to is null or subscription_months.month_end_at <= intervals.valid_to)
    inner join prices on intervals.price_id = prices.price_id
    where
        prices.recurring_interval is not null
        and coalesce(prices.recurring_usage_type, 'licensed') <> 'metered'
    group by 1, 2

),

discount_terms as (

    -- a discount is in force from its start to its end, or until the next one replaces it
    select
        *,
        lead(started_at) over (partition by subscription_id order by started_at, discount_id)
            as replaced_at
    from discounts

),

discounts_in_force as (

    select
        subscription_months.month_start,
        subscription_months.subscription_id,
        discount_terms.discount_id,
        discount_terms.percent_off,
        discount_terms.amount_off_minor
    from subscription_months
    inner join discount_terms
        on
            subscription_months.subscription_id = discount_terms.subscription_id
            and discount_terms.coupon_duration in ('forever', 'repeating')
            and subscription_months.month_end_at > discount_terms.started_at
            and (
                discount_terms.ended_at is null
                or subscription_months.month_end_at <= discount_terms.ended_at
            )
            and (
                discount_terms.replaced_at is null
                or subscription_months.month_end_at <= discount_terms.replaced_at
            )
    qualify row_number() over (
        partition by subscription_months.month_start, subscription_months.subscription_id
        order by discount_terms.started_at desc, discount_terms.discount_id desc
    ) = 1

),

final as (

    select
        subscription_months.month_start,
        cast(subscription_months.subscription_id as varchar) as subscription_id,
        cast(subscription_months.billing_customer_id as varchar) as billing_customer_id,
        cast(coalesce(
            xref.customer_id, {{ surrogate_key(['subscription_months.billing_customer_id']) }}
        ) as varchar) as customer_id,
        coalesce(xref.is_customer_linked, false) as is_customer_linked,
        cast(subscription_months.currency_code as varchar) as currency_code,
        cast(periods.recurring_interval as varchar) as recurring_interval,
        cast(periods.recurring_interval_count as bigint) as recurring_interval_count,
        cast(discounts_in_force.discount_id as varchar) as discount_id,
        {{ to_major_units('coalesce(periods.period_amount_minor, 0)', 'subscription_months.currency_code') }}
            as period_amount,
        {{ to_major_units(
            'coalesce(' ~ mrr_monthly_minor(
                'periods.period_amount_minor',
                'periods.recurring_interval',
                'periods.recurring_interval_count',
                'discounts_in_force.percent_off',
                'discounts_in_force.amount_off_minor'
            ) ~ ', 0)',
            'subscription_months.currency_code'
        ) }} as mrr_amount
    from subscription_months
    left join periods
        on
            subscription_months.month_start = periods.month_start
            and subscription_months.subscription_id = periods.subscription_id
    left join discounts_in_force
        on
            subscription_months.month_start = discounts_in_force.month_start
            and subscription_months.subscription_id = discounts_in_force.subscription_id
    left join xref on subscription_months.billing_customer_id = xref.billing_customer_id

)

select * from final
