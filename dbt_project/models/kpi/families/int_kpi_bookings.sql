-- The bookings family of kpi_monthly in long format: won opportunities by close month, split at
-- the delta against the terms in force before (new, expansion, contraction, renewal), and their
-- sum `bookings`. Each part converts to USD at the ERP rate of the close date, rounded to the
-- cent per opportunity and part; the USD total is the sum of the USD parts.
-- Definitions: docs/metrics.md, "Bookings".
with

fx as (

    select * from {{ ref('int_fx_rates_daily') }}

),

opportunities as (

    select * from {{ ref('int_kpi_bookings_opportunities') }}

),

converted as (

    select
        cast(date_trunc('month', opportunities.close_date) as date) as month_start,
        opportunities.currency_code,
        opportunities.bookings_new,
        opportunities.bookings_expansion,
        opportunities.bookings_contraction,
        opportunities.bookings_renewal,
        {{ to_usd('opportunities.bookings_new', 'fx.usd_per_unit') }} as bookings_new_usd,
        {{ to_usd('opportunities.bookings_expansion', 'fx.usd_per_unit') }} as bookings_expansion_usd,
        {{ to_usd('opportunities.bookings_contraction', 'fx.usd_per_unit') }} as bookings_contraction_usd,
        {{ to_usd('opportunities.bookings_renewal', 'fx.usd_per_unit') }} as bookings_renewal_usd
    from opportunities
    left join fx
        on
            opportunities.currency_code = fx.currency_code
            and opportunities.close_date = fx.rate_date

),

documents as (

    select
        month_start,
        currency_code,
        'bookings' as metric,
        bookings_new + bookings_expansion + bookings_contraction + bookings_renewal as amount,
        bookings_new_usd + bookings_expansion_usd + bookings_contraction_usd + bookings_renewal_usd
            as amount_usd
    from converted
    union all
    select
        month_start,
        currency_code,
        'bookings_new' as metric,
        bookings_new as amount,
        bookings_new_usd as amount_usd
    from converted
    union all
    select
        month_start,
        currency_code,
        'bookings_expansion' as metric,
        bookings_expansion as amount,
        bookings_expansion_usd as amount_usd
    from converted
    union all
    select
        month_start,
        currency_code,
        'bookings_contraction' as metric,
        bookings_contraction as amount,
        bookings_contraction_usd as amount_usd
    from converted
    union all
    select
        month_start,
        currency_code,
        'bookings_renewal' as metric,
        bookings_renewal as amount,
        bookings_renewal_usd as amount_usd
    from converted

),

final as (

    {{ kpi_documents_long('documents') }}

)

select * from final
