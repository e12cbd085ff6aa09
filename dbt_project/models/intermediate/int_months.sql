-- Every month from the first billing document to the as-of month, with its end instant (the
-- next month's first midnight) and the date whose FX rate values month-end balances.
with

bounds as (

    select
        min(invoices.finalized_at) as first_at,
        max(clock.as_of_at) as as_of_at
    from {{ ref('stg_billing__invoices') }} as invoices
    cross join {{ ref('int_recon_clock') }} as clock

),

spine as (

    {{ month_spine('(select cast(first_at as date) from bounds)', '(select cast(as_of_at as date) from bounds)') }}

),

final as (

    select
        spine.month_start,
        {{ add_months('spine.month_start', 1) }} as next_month_start,
        cast({{ add_months('spine.month_start', 1) }} as timestamp) as month_end_at,
        case
            when {{ add_months('spine.month_start', 1) }} > cast(bounds.as_of_at as date)
                then cast(bounds.as_of_at as date)
            else {{ add_days(add_months('spine.month_start', 1), -1) }}
        end as rate_date
    from spine
    cross join bounds

)

select * from final
