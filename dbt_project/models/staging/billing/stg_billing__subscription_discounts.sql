{%- set sub_cols = raw_columns(source('raw_billing', 'subscriptions')) -%}
{%- set inv_cols = raw_columns(source('raw_billing', 'invoices')) -%}

-- A Stripe discount (a coupon applied to a subscription) as the subscription shows it now
-- (`subscription.discount`) and as each invoice showed it when it was finalized
-- (`invoice.discount`): Stripe removes a discount from the subscription when it ends, and an
-- invoice keeps the one it applied, so the invoices hold the history. One row per discount.

with

on_subscriptions as (

    select
        {{ raw_column(sub_cols, 'discount__id', 'varchar') }} as discount_id,
        id as subscription_id,
        {{ raw_column(sub_cols, 'discount__coupon__id', 'varchar') }} as coupon_id,
        {{ raw_column(sub_cols, 'discount__coupon__percent_off', 'decimal(9, 4)') }} as percent_off,
        {{ raw_column(sub_cols, 'discount__coupon__amount_off', 'bigint') }} as amount_off_minor,
        upper({{ raw_column(sub_cols, 'discount__coupon__currency', 'varchar') }}) as coupon_currency_code,
        {{ raw_column(sub_cols, 'discount__coupon__duration', 'varchar') }} as coupon_duration,
        {{ raw_column(sub_cols, 'discount__coupon__duration_in_months', 'bigint') }} as duration_in_months,
        {{ epoch_to_timestamp(raw_column(sub_cols, 'discount__start', 'bigint')) }} as started_at,
        {{ epoch_to_timestamp(raw_column(sub_cols, 'discount__end', 'bigint')) }} as ended_at,
        0 as source_rank
    from {{ source('raw_billing', 'subscriptions') }}
    where {{ point_in_time(sub_cols, 'billing') }}

),

on_invoices as (

    select
        {{ raw_column(inv_cols, 'discount__id', 'varchar') }} as discount_id,
        {{ raw_column(inv_cols, 'subscription', 'varchar') }} as subscription_id,
        {{ raw_column(inv_cols, 'discount__coupon__id', 'varchar') }} as coupon_id,
        {{ raw_column(inv_cols, 'discount__coupon__percent_off', 'decimal(9, 4)') }} as percent_off,
        {{ raw_column(inv_cols, 'discount__coupon__amount_off', 'bigint') }} as amount_off_minor,
        upper({{ raw_column(inv_cols, 'discount__coupon__currency', 'varchar') }}) as coupon_currency_code,
        {{ raw_column(inv_cols, 'discount__coupon__duration', 'varchar') }} as coupon_duration,
        {{ raw_column(inv_cols, 'discount__coupon__duration_in_months', 'bigint') }} as duration_in_months,
        {{ epoch_to_timestamp(raw_column(inv_cols, 'discount__start', 'bigint')) }} as started_at,
        {{ epoch_to_timestamp(raw_column(inv_cols, 'discount__end', 'bigint')) }} as ended_at,
        1 as source_rank
    from {{ source('raw_billing', 'invoices') }}
    where {{ point_in_time(inv_cols, 'billing') }}

),

unioned as (

    select * from on_subscriptions
    union all
    select * from on_invoices

),

final as (

    select
        cast(discount_id as varchar) as discount_id,
        cast(subscription_id as varchar) as subscription_id,
        cast(coupon_id as varchar) as coupon_id,
        cast(percent_off as decimal(9, 4)) as percent_off,
        cast(amount_off_minor as bigint) as amount_off_minor,
        {{ to_major_units('amount_off_minor', 'coupon_currency_code') }} as amount_off,
        cast(coupon_currency_code as varchar) as coupon_currency_code,
        cast(coupon_duration as varchar) as coupon_duration,
        cast(duration_in_months as bigint) as duration_in_months,
        cast(started_at as timestamp) as started_at,
        cast(ended_at as timestamp) as ended_at
    from unioned
    where discount_id is not null and subscription_id is not null
    qualify row_number() over (partition by discount_id order by source_rank) = 1

)

select * from final
