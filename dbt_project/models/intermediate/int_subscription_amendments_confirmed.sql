-- Quantity changes billing has not invoiced yet: annual plans take a downgrade without
-- proration, and monthly plans invoice a mid-period change only on the next renewal, so billing
-- leaves no line for it until later. The CRM amendment dates the change (a later won opportunity
-- on a contract already opened: int_kpi_bookings_opportunities reads behaviour, not the Type
-- picklist); it
-- is used only when billing confirms it (the item's next billing trace: an "Unused time on N x" proration stating the
-- quantity before a later change, a billed quantity, else its current quantity, equals the terms),
-- so a downgrade the legacy integration never applied does not move MRR.
with

opportunities as (

    select * from {{ ref('int_kpi_bookings_opportunities') }}

),

line_items as (

    select * from {{ ref('stg_crm__opportunity_line_items') }}

),

products as (

    select * from {{ ref('stg_crm__products') }}

),

xref as (

    -- every billing customer of the account (one per currency)
    select * from {{ ref('customer_xref_members') }}
    where source_system = 'billing'

),

subscriptions as (

    select * from {{ ref('stg_billing__subscriptions') }}

),

billing_events as (

    select * from {{ ref('int_subscription_quantity_events') }}

),

unused_lines as (

    select
        subscription_id,
        product_code,
        service_period_start_at as observed_at,
        quantity
    from {{ ref('fct_invoice_line') }}
    where is_proration and amount < 0 and subscription_id is not null

),

observations as (

    select
        subscription_id,
        product_code,
        observed_at,
        quantity,
        0 as observation_rank
    from unused_lines
    union all
    select
        subscription_id,
        product_code,
        effective_at as observed_at,
        quantity,
        1 as observation_rank
    from billing_events
    where event_rank = 0

),

current_items as (

    select * from {{ ref('int_subscription_items_coded') }}

),

amendments as (

    select
        opportunities.opportunity_id,
        opportunities.account_id,
        opportunities.currency_code,
        opportunities.close_date,
        -- the time of day is unknown: the change counts from the end of its close date, so a
        -- renewal billed earlier that day does not hide it and a month end after it sees it
        {{ add_seconds('cast(' ~ add_days('opportunities.close_date', 1) ~ ' as timestamp)', -1) }}
            as effective_at
    from opportunities
    where opportunities.booking_kind = 'amendment'

),

prorated_days as (

    -- an amendment billing prorated is already dated exactly by its proration lines
    select distinct
        subscription_id,
        cast(observed_at as date) as prorated_on
    from unused_lines
    union
    select distinct
        subscription_id,
        cast(effective_at as date) as prorated_on
    from billing_events
    where event_rank = 1

),

subscription_at_close as (

    select
        amendments.opportunity_id,
        amendments.effective_at,
        subscriptions.subscription_id
    from amendments
    inner join xref on amendments.account_id = xref.crm_account_id
    inner join subscriptions
        on
            xref.billing_customer_id = subscriptions.customer_id
            -- an account billed in two currencies: the subscription in the amendment's
            and upper(subscriptions.currency_code) = upper(amendments.currency_code)
            and cast(subscriptions.started_at as date) <= amendments.close_date
            and (subscriptions.ended_at is null or cast(subscriptions.ended_at as date) > amendments.close_date)
    left join prorated_days
        on
            subscriptions.subscription_id = prorated_days.subscription_id
            and amendments.close_date = prorated_days.prorated_on
    where prorated_days.subscription_id is null

),

known_items as (

    select distinct
        subscription_id,
        product_code,
        price_id,
        recurring_interval
    from (
        select
            subscription_id,
            product_code,
            price_id,
            recurring_interval
        from billing_events
        union all
        select
            subscription_id,
            product_code,
            price_id,
            recurring_interval
        from current_items
        where recurring_interval is not null
    ) as items

),

new_terms as (

    select
        subscription_at_close.opportunity_id,
        subscription_at_close.subscription_id,
        subscription_at_close.effective_at,
        known_items.product_code,
        known_items.price_id,
        known_items.recurring_interval,
        cast(
            coalesce(sum(case when products.product_id is not null then line_items.quantity end), 0)
            as bigint
        ) as quantity
    from subscription_at_close
    inner join known_items on subscription_at_close.subscription_id = known_items.subscription_id
    left join line_items on subscription_at_close.opportunity_id = line_items.opportunity_id
    left join products
        on
            line_items.product_id = products.product_id
            and known_items.product_code = products.product_code
    group by 1, 2, 3, 4, 5, 6

),

next_billed as (

    select
        new_terms.opportunity_id,
        new_terms.product_code,
        observations.observed_at,
        observations.quantity
    from new_terms
    inner join observations
        on
            new_terms.subscription_id = observations.subscription_id
            and new_terms.product_code = observations.product_code
            and new_terms.effective_at < observations.observed_at
    qualify row_number() over (
        partition by new_terms.opportunity_id, new_terms.product_code
        order by observations.observed_at, observations.observation_rank
    ) = 1

),

evidenced as (

    -- consecutive amendments before the same billing trace form a chain: the trace confirms
    -- the chain when it shows the last downgrade's quantity
    select
        new_terms.*,
        coalesce(next_billed.quantity, current_items.quantity, 0) as billed_quantity,
        last_value(new_terms.quantity) over (
            partition by new_terms.subscription_id, new_terms.product_code, next_billed.observed_at
            order by new_terms.effective_at
            rows between unbounded preceding and unbounded following
        ) as chain_final_quantity
    from new_terms
    left join next_billed
        on
            new_terms.opportunity_id = next_billed.opportunity_id
            and new_terms.product_code = next_billed.product_code
    left join current_items
        on
            new_terms.subscription_id = current_items.subscription_id
            and new_terms.product_code = current_items.product_code

),

confirmed as (

    select
        subscription_id,
        product_code,
        price_id,
        recurring_interval,
        effective_at,
        quantity,
        2 as event_rank
    from evidenced
    where chain_final_quantity = billed_quantity

)

select * from confirmed
