-- When each subscription item's quantity took effect, read from billing's own trail: the
-- period charge lines (quantity at each renewal) and proration lines (a mid-period change:
-- "Remaining time on N x" gives the new quantity; an "Unused time" line alone removes it).
with

lines as (

    select * from {{ ref('fct_invoice_line') }}

),

coded as (

    select
        subscription_id,
        product_code,
        price_id,
        recurring_interval,
        line_type,
        is_proration,
        amount,
        quantity,
        service_period_start_at
    from lines
    where subscription_id is not null and recurring_interval is not null

),

charges as (

    select
        subscription_id,
        product_code,
        price_id,
        recurring_interval,
        service_period_start_at as effective_at,
        quantity,
        0 as event_rank
    from coded
    where not is_proration and line_type = 'subscription'

),

remaining as (

    select
        subscription_id,
        product_code,
        price_id,
        recurring_interval,
        service_period_start_at as effective_at,
        quantity,
        1 as event_rank
    from coded
    where is_proration and amount > 0

),

removed as (

    select
        unused.subscription_id,
        unused.product_code,
        unused.price_id,
        unused.recurring_interval,
        unused.service_period_start_at as effective_at,
        0 as quantity,
        1 as event_rank
    from coded as unused
    left join remaining
        on
            unused.subscription_id = remaining.subscription_id
            and unused.product_code = remaining.product_code
            and unused.service_period_start_at = remaining.effective_at
    where unused.is_proration and unused.amount < 0 and remaining.subscription_id is null

),

final as (

    select * from charges
    union all
    select * from remaining
    union all
    select * from removed

)

select * from final
