-- The deferred-revenue roll-forward holds to the minor unit (docs/metrics.md, "Recognized and
-- deferred revenue"), per month and currency, in the currency and in USD: opening + billed -
-- credited - written_off - recognized = closing, opening = the previous month's closing,
-- closing = deferred_revenue - unbilled_revenue with neither negative, and kpi_monthly shows the
-- same recognized, deferred and unbilled revenue. A row is returned for every breach.
with

rollforward as (

    select * from {{ ref('revenue_deferred_monthly') }}

),

kpi as (

    select * from {{ ref('kpi_monthly') }}
    where currency_code <> 'ALL'

),

checked as (

    select
        rollforward.*,
        coalesce(lag(rollforward.closing) over (
            partition by rollforward.currency_code order by rollforward.month_start
        ), 0) as previous_closing,
        coalesce(lag(rollforward.closing_usd) over (
            partition by rollforward.currency_code order by rollforward.month_start
        ), 0) as previous_closing_usd,
        kpi.recognized_revenue as kpi_recognized,
        kpi.recognized_revenue_usd as kpi_recognized_usd,
        kpi.deferred_revenue as kpi_deferred,
        kpi.unbilled_revenue as kpi_unbilled
    from rollforward
    left join kpi
        on
            rollforward.month_start = kpi.month_start
            and rollforward.currency_code = kpi.currency_code

)

select * from checked
where
    opening + billed - credited - written_off - recognized <> closing
    or opening_usd + billed_usd - credited_usd - written_off_usd - recognized_usd <> closing_usd
    or opening <> previous_closing
    or opening_usd <> previous_closing_usd
    or closing <> deferred_revenue - unbilled_revenue
    or closing_usd <> deferred_revenue_usd - unbilled_revenue_usd
    or deferred_revenue < 0
    or unbilled_revenue < 0
    or kpi_recognized is distinct from recognized
    or kpi_recognized_usd is distinct from recognized_usd
    or kpi_deferred is distinct from deferred_revenue
    or kpi_unbilled is distinct from unbilled_revenue
