-- Open receivables at every month end, one row per month and invoice open then, aged by days
-- past due on the month's report date (its last day, the as-of date for the as-of month). Definitions: docs/metrics.md (Open AR, aging and DSO). A month ends
-- at the next month's first instant, the as-of month at the as-of instant. An invoice is open
-- when finalized before the instant and neither paid, voided nor written off (uncollectible)
-- before it; it owes its total less the payments and credit notes dated before the instant,
-- floored at zero. USD: the currency's month-end total at the month-end rate, allocated over
-- its invoices by largest remainder so the invoices add up to it to the cent.
with

months as (

    select * from {{ ref('int_months') }}

),

clock as (

    select * from {{ ref('int_recon_clock') }}

),

fx as (

    select * from {{ ref('int_fx_rates_daily') }}

),

invoices as (

    select * from {{ ref('fct_invoice') }}

),

payments as (

    select * from {{ ref('fct_payment') }}

),

credit_notes as (

    select * from {{ ref('fct_credit_note') }}
    where coalesce(credit_note_status, '') <> 'void'

),

month_ends as (

    select
        months.month_start,
        months.rate_date,
        least(months.month_end_at, cast(clock.as_of_at as timestamp)) as as_of_at
    from months
    cross join clock

),

open_then as (

    select
        month_ends.month_start,
        month_ends.rate_date,
        month_ends.as_of_at,
        invoices.invoice_id,
        invoices.billing_customer_id,
        invoices.customer_id,
        invoices.currency_code,
        invoices.total,
        invoices.finalized_at,
        invoices.due_at
    from invoices
    inner join month_ends
        on
            invoices.finalized_at < month_ends.as_of_at
            and (invoices.paid_at is null or invoices.paid_at >= month_ends.as_of_at)
            and (invoices.voided_at is null or invoices.voided_at >= month_ends.as_of_at)
            and (
                invoices.marked_uncollectible_at is null
                or invoices.marked_uncollectible_at >= month_ends.as_of_at
            )

),

paid_before as (

    select
        open_then.month_start,
        open_then.invoice_id,
        sum(payments.amount) as amount_paid
    from open_then
    inner join payments
        on
            open_then.invoice_id = payments.invoice_id
            and open_then.as_of_at > payments.paid_at
    group by 1, 2

),

credited_before as (

    select
        open_then.month_start,
        open_then.invoice_id,
        sum(credit_notes.total) as amount_credited
    from open_then
    inner join credit_notes
        on
            open_then.invoice_id = credit_notes.invoice_id
            and open_then.as_of_at > credit_notes.created_at
    group by 1, 2

),

remaining as (

    select
        open_then.*,
        cast(greatest(
            open_then.total
            - coalesce(paid_before.amount_paid, 0)
            - coalesce(credited_before.amount_credited, 0),
            0
        ) as decimal(38, 3)) as amount_remaining,
        -- aged on the report date: the month's last day (the as-of date for the as-of month)
        {{ days_between('cast(coalesce(open_then.due_at, open_then.finalized_at) as date)', 'open_then.rate_date') }}
            as days_past_due
    from open_then
    left join paid_before
        on
            open_then.month_start = paid_before.month_start
            and open_then.invoice_id = paid_before.invoice_id
    left join credited_before
        on
            open_then.month_start = credited_before.month_start
            and open_then.invoice_id = credited_before.invoice_id

),

converted as (

    select
        remaining.*,
        fx.usd_per_unit,
        cast(remaining.amount_remaining as decimal(38, 6)) * fx.usd_per_unit * 100 as usd_cents_exact,
        {{ to_usd(
            'sum(remaining.amount_remaining) over (partition by remaining.month_start, remaining.currency_code)',
            'fx.usd_per_unit'
        ) }} as currency_total_usd
    from remaining
    left join fx
        on
            remaining.currency_code = fx.currency_code
            and remaining.rate_date = fx.rate_date
    where remaining.amount_remaining > 0

),

floored as (

    select
        converted.*,
        floor(converted.usd_cents_exact) as usd_cents_floor,
        converted.usd_cents_exact - floor(converted.usd_cents_exact) as usd_cents_fraction
    from converted

),

allocated as (

    select
        floored.*,
        -- cents the floors fall short of the currency's total: one each to the largest fractions
        floored.currency_total_usd * 100
        - sum(floored.usd_cents_floor) over (partition by floored.month_start, floored.currency_code)
            as cents_short,
        row_number() over (
            partition by floored.month_start, floored.currency_code
            order by floored.usd_cents_fraction desc, floored.invoice_id asc
        ) as fraction_rank
    from floored

),

final as (

    select
        -- ids
        {{ surrogate_key(['allocated.month_start', 'allocated.invoice_id']) }} as ar_aging_monthly_id,
        cast(allocated.invoice_id as varchar) as invoice_id,
        cast(allocated.billing_customer_id as varchar) as billing_customer_id,
        cast(allocated.customer_id as varchar) as customer_id,
        -- strings
        cast(allocated.currency_code as varchar) as currency_code,
        cast(case
            when allocated.days_past_due <= 0 then 'current'
            when allocated.days_past_due <= 30 then '1-30'
            when allocated.days_past_due <= 60 then '31-60'
            when allocated.days_past_due <= 90 then '61-90'
            else '90+'
        end as varchar) as aging_bucket,
        -- numerics
        allocated.amount_remaining,
        cast(
            (
                allocated.usd_cents_floor
                + case when allocated.fraction_rank <= allocated.cents_short then 1 else 0 end
            ) / 100
            as decimal(38, 2)
        ) as amount_remaining_usd,
        cast(allocated.usd_per_unit as decimal(38, 9)) as usd_per_unit,
        cast(
            case when allocated.days_past_due < 0 then 0 else allocated.days_past_due end as bigint
        ) as days_past_due,
        -- dates and timestamps
        allocated.month_start,
        cast(allocated.rate_date as date) as rate_date,
        cast(allocated.finalized_at as timestamp) as finalized_at,
        cast(allocated.due_at as timestamp) as due_at,
        cast(allocated.as_of_at as timestamp) as as_of_at
    from allocated

)

select * from final
