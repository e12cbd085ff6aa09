{{
    config(
        materialized='incremental',
        unique_key='invoice_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        pre_hook="{{ incremental_changes('invoice_id', 'int_revenue_recognized_months__changes') }}",
        post_hook="{{ incremental_changes_done() }}",
    )
}}
-- The revenue schedule: one row per invoice line and month, with the line's deferred-revenue
-- roll-forward (opening + billed - credited - written_off - recognized = closing), in minor units
-- exactly, then in major units and USD. Definitions: docs/metrics.md, "Recognized and deferred
-- revenue". Lines of finalized invoices, before tax and after discounts, straight-line over the
-- UTC days of their service period, allocated to months by cumulative rounding; credit notes and
-- voids are negative shares of the lines, caught up in their month; a write-off stops the
-- recognition from its month. Months after the as-of month are kept (the future schedule).
-- Incremental by invoice: a run rebuilds every row of the invoices created or changed since the
-- last one (their lines, credit notes, customer or rate; macro
-- int_revenue_recognized_months__changes; docs/models.md, Incremental models). An invoice's
-- rows depend only on its own lines and credit notes.
-- depends_on: {{ ref('stg_billing__events') }}
with

lines as (

    select * from {{ ref('fct_invoice_line') }}

),

invoices as (

    select * from {{ ref('fct_invoice') }}

),

credit_notes as (

    select * from {{ ref('stg_billing__credit_notes') }}

),

issued as (

    -- lines of finalized invoices (a draft is not revenue), in minor units
    select
        lines.invoice_line_id,
        lines.invoice_id,
        invoices.customer_id,
        lines.currency_code,
        invoices.usd_per_unit,
        cast(lines.recognizable_amount * {{ minor_units_per_major('lines.currency_code') }} as bigint)
            as amount_minor,
        coalesce(cast(lines.service_period_start_at as date), cast(invoices.finalized_at as date))
            as start_date,
        coalesce(greatest({{ days_between(
            'cast(lines.service_period_start_at as date)',
            'cast(lines.service_period_end_at as date)'
        ) }}, 0), 0) as service_days,
        cast(date_trunc('month', invoices.finalized_at) as date) as billed_month,
        case
            when invoices.invoice_status = 'void'
                then cast(date_trunc('month', coalesce(invoices.voided_at, invoices.finalized_at)) as date)
        end as voided_month,
        case
            when invoices.invoice_status = 'uncollectible'
                then cast(date_trunc(
                    'month', coalesce(invoices.marked_uncollectible_at, invoices.finalized_at)
                ) as date)
        end as written_off_month
    from lines
    inner join invoices on lines.invoice_id = invoices.invoice_id
    where invoices.finalized_at is not null
    {% if is_incremental() %}
        and lines.invoice_id in {{ incremental_changed_keys() }}
    {% endif %}

),

credits as (

    select
        credit_note_id,
        invoice_id,
        currency_code,
        cast(total_excluding_tax * {{ minor_units_per_major('currency_code') }} as bigint) as amount_minor,
        cast(date_trunc('month', created_at) as date) as credit_month,
        cast(created_at as date) as credit_date
    from credit_notes
    where coalesce(credit_note_status, '') <> 'void'
    {% if is_incremental() %}
        and invoice_id in {{ incremental_changed_keys() }}
    {% endif %}

),

credited_lines as (

    -- the invoice's positive lines, with running totals in line id order
    select
        credits.credit_note_id,
        credits.credit_month,
        credits.amount_minor as credit_minor,
        issued.invoice_line_id,
        issued.amount_minor,
        issued.start_date,
        issued.service_days,
        sum(issued.amount_minor) over (
            partition by credits.credit_note_id
            order by issued.invoice_line_id
            rows between unbounded preceding and current row
        ) as running_minor,
        sum(issued.amount_minor) over (partition by credits.credit_note_id) as positive_minor
    from credits
    inner join issued on credits.invoice_id = issued.invoice_id
    where issued.amount_minor > 0

),

credit_shares as (

    -- each line's share of the credit, proportional to its amount, no minor unit lost
    select
        credit_note_id,
        credit_month,
        invoice_line_id,
        start_date,
        service_days,
        {{ cumulative_share('credit_minor', 'running_minor', 'positive_minor') }}
        - {{ cumulative_share('credit_minor', 'running_minor - amount_minor', 'positive_minor') }}
            as share_minor
    from credited_lines

),

orphan_credits as (

    -- a credit note on an invoice without a positive line: revenue of its month of issue
    select
        credits.credit_note_id,
        credits.invoice_id,
        invoices.customer_id,
        credits.currency_code,
        invoices.usd_per_unit,
        credits.amount_minor,
        credits.credit_date,
        credits.credit_month
    from credits
    left join invoices on credits.invoice_id = invoices.invoice_id
    where not exists (
        select credited_lines.credit_note_id from credited_lines
        where credited_lines.credit_note_id = credits.credit_note_id
    )

),

accounts as (

    -- what carries a balance: the lines, and the credit notes without a line
    select
        invoice_line_id,
        invoice_id,
        customer_id,
        currency_code,
        usd_per_unit,
        amount_minor as line_amount_minor,
        written_off_month
    from issued
    union all
    select
        credit_note_id as invoice_line_id,
        invoice_id,
        customer_id,
        currency_code,
        usd_per_unit,
        0 as line_amount_minor,
        cast(null as date) as written_off_month
    from orphan_credits

),

items as (

    -- what is spread over service days: the line (positive), each credit share and the void
    -- (negative, caught up in their month)
    select
        invoice_line_id,
        'line' as item_kind,
        amount_minor,
        start_date,
        service_days,
        cast(null as date) as catch_up_month
    from issued
    union all
    select
        invoice_line_id,
        'credit' as item_kind,
        -share_minor as amount_minor,
        start_date,
        service_days,
        credit_month as catch_up_month
    from credit_shares
    union all
    select
        invoice_line_id,
        'void' as item_kind,
        -amount_minor as amount_minor,
        start_date,
        service_days,
        voided_month as catch_up_month
    from issued
    where voided_month is not null
    union all
    select
        credit_note_id as invoice_line_id,
        'credit' as item_kind,
        -amount_minor as amount_minor,
        credit_date as start_date,
        0 as service_days,
        credit_month as catch_up_month
    from orphan_credits

),

bounds as (

    select
        min(cast(date_trunc('month', start_date) as date)) as first_month,
        max(greatest(
            {{ add_days('start_date', 'greatest(service_days, 1)') }},
            coalesce(catch_up_month, start_date)
        )) as last_date
    from items

),

spine as (

    {{ month_spine('(select first_month from bounds)', '(select last_date from bounds)') }}

),

item_months as (

    -- the cumulative share at each month end, minus the one at the month's start
    select
        items.invoice_line_id,
        items.item_kind,
        case
            when items.catch_up_month > spine.month_start then items.catch_up_month
            else spine.month_start
        end as month_start,
        case
            when items.service_days = 0 then items.amount_minor
            else
                {{ cumulative_share(
                    'items.amount_minor',
                    'least(items.service_days, greatest(0, ' ~ days_between('items.start_date', add_months('spine.month_start', 1)) ~ '))',
                    'items.service_days'
                ) }}
                - {{ cumulative_share(
                    'items.amount_minor',
                    'least(items.service_days, greatest(0, ' ~ days_between('items.start_date', 'spine.month_start') ~ '))',
                    'items.service_days'
                ) }}
        end as amount_minor
    from items
    inner join spine
        on
            spine.month_start >= cast(date_trunc('month', items.start_date) as date)
            and spine.month_start <= cast(date_trunc(
                'month', {{ add_days('items.start_date', 'greatest(items.service_days, 1) - 1') }}
            ) as date)

),

movements as (

    select
        invoice_line_id,
        month_start,
        0 as billed_minor,
        0 as credited_minor,
        amount_minor as scheduled_minor,
        case when item_kind = 'line' then amount_minor else 0 end as allocated_minor
    from item_months
    union all
    select
        invoice_line_id,
        billed_month as month_start,
        amount_minor as billed_minor,
        0 as credited_minor,
        0 as scheduled_minor,
        0 as allocated_minor
    from issued
    union all
    select
        invoice_line_id,
        catch_up_month as month_start,
        0 as billed_minor,
        -amount_minor as credited_minor,
        0 as scheduled_minor,
        0 as allocated_minor
    from items
    where item_kind <> 'line'

),

line_month_movements as (

    select
        invoice_line_id,
        month_start,
        sum(billed_minor) as billed_minor,
        sum(credited_minor) as credited_minor,
        sum(scheduled_minor) as scheduled_minor,
        sum(allocated_minor) as allocated_minor
    from movements
    group by 1, 2

),

ranges as (

    select
        invoice_line_id,
        min(month_start) as first_month,
        max(month_start) as last_month
    from line_month_movements
    group by 1

),

line_months as (

    -- every month from a line's first movement to its last (a balance may sit in between)
    select
        accounts.invoice_line_id,
        accounts.invoice_id,
        accounts.customer_id,
        accounts.currency_code,
        accounts.usd_per_unit,
        accounts.line_amount_minor,
        accounts.written_off_month,
        spine.month_start,
        coalesce(line_month_movements.billed_minor, 0) as billed_minor,
        coalesce(line_month_movements.credited_minor, 0) as credited_minor,
        coalesce(line_month_movements.scheduled_minor, 0) as scheduled_minor,
        coalesce(line_month_movements.allocated_minor, 0) as allocated_minor
    from accounts
    inner join ranges on accounts.invoice_line_id = ranges.invoice_line_id
    inner join spine
        on
            ranges.first_month <= spine.month_start
            and ranges.last_month >= spine.month_start
    left join line_month_movements
        on
            accounts.invoice_line_id = line_month_movements.invoice_line_id
            and spine.month_start = line_month_movements.month_start

),

written_off as (

    -- from the write-off month nothing is recognized: what was left leaves as written off
    select
        *,
        case
            when written_off_month is not null and month_start >= written_off_month then 0
            else scheduled_minor
        end as recognized_minor,
        case
            when month_start = written_off_month
                then sum(case when month_start >= written_off_month then scheduled_minor else 0 end)
                    over (partition by invoice_line_id)
            else 0
        end as written_off_minor
    from line_months

),

balances as (

    select
        *,
        sum(billed_minor - credited_minor - written_off_minor - recognized_minor) over (
            partition by invoice_line_id
            order by month_start
            rows between unbounded preceding and current row
        ) as closing_minor,
        sum(billed_minor) over (
            partition by invoice_line_id
            order by month_start
            rows between unbounded preceding and current row
        ) as billed_to_date_minor,
        sum(credited_minor) over (
            partition by invoice_line_id
            order by month_start
            rows between unbounded preceding and current row
        ) as credited_to_date_minor,
        sum(written_off_minor) over (
            partition by invoice_line_id
            order by month_start
            rows between unbounded preceding and current row
        ) as written_off_to_date_minor
    from written_off

),

majors as (

    select
        invoice_line_id,
        invoice_id,
        customer_id,
        currency_code,
        month_start,
        usd_per_unit,
        {{ to_major_units('line_amount_minor', 'currency_code') }} as line_amount,
        {{ to_major_units('allocated_minor', 'currency_code') }} as allocated,
        {{ to_major_units('closing_minor - billed_minor + credited_minor + written_off_minor + recognized_minor', 'currency_code') }}
            as opening,
        {{ to_major_units('billed_minor', 'currency_code') }} as billed,
        {{ to_major_units('credited_minor', 'currency_code') }} as credited,
        {{ to_major_units('written_off_minor', 'currency_code') }} as written_off,
        {{ to_major_units('recognized_minor', 'currency_code') }} as recognized,
        {{ to_major_units('closing_minor', 'currency_code') }} as closing,
        {{ to_major_units('greatest(closing_minor, 0)', 'currency_code') }} as deferred_revenue,
        {{ to_major_units('greatest(-closing_minor, 0)', 'currency_code') }} as unbilled_revenue,
        {{ to_major_units('billed_to_date_minor', 'currency_code') }} as billed_to_date,
        {{ to_major_units('billed_to_date_minor - billed_minor', 'currency_code') }} as billed_before,
        {{ to_major_units('credited_to_date_minor', 'currency_code') }} as credited_to_date,
        {{ to_major_units('credited_to_date_minor - credited_minor', 'currency_code') }} as credited_before,
        {{ to_major_units('written_off_to_date_minor', 'currency_code') }} as written_off_to_date,
        {{ to_major_units('written_off_to_date_minor - written_off_minor', 'currency_code') }}
            as written_off_before
    from balances

),

usd as (

    -- at the invoice date's rate: balances rounded to the cent, movements as differences of
    -- rounded running totals, recognized as the rest of the USD roll-forward
    select
        *,
        {{ to_usd('opening', 'usd_per_unit') }} as opening_usd,
        {{ to_usd('billed_to_date', 'usd_per_unit') }} - {{ to_usd('billed_before', 'usd_per_unit') }}
            as billed_usd,
        {{ to_usd('credited_to_date', 'usd_per_unit') }} - {{ to_usd('credited_before', 'usd_per_unit') }}
            as credited_usd,
        {{ to_usd('written_off_to_date', 'usd_per_unit') }}
        - {{ to_usd('written_off_before', 'usd_per_unit') }} as written_off_usd,
        {{ to_usd('closing', 'usd_per_unit') }} as closing_usd,
        {{ to_usd('deferred_revenue', 'usd_per_unit') }} as deferred_revenue_usd,
        {{ to_usd('unbilled_revenue', 'usd_per_unit') }} as unbilled_revenue_usd
    from majors

),

final as (

    select
        -- ids
        cast(invoice_line_id as varchar) as invoice_line_id,
        cast(invoice_id as varchar) as invoice_id,
        cast(customer_id as varchar) as customer_id,
        -- strings
        cast(currency_code as varchar) as currency_code,
        -- dates
        cast(month_start as date) as month_start,
        -- numerics: transaction currency
        cast(line_amount as decimal(38, 3)) as line_amount,
        cast(allocated as decimal(38, 3)) as allocated,
        cast(opening as decimal(38, 3)) as opening,
        cast(billed as decimal(38, 3)) as billed,
        cast(credited as decimal(38, 3)) as credited,
        cast(written_off as decimal(38, 3)) as written_off,
        cast(recognized as decimal(38, 3)) as recognized,
        cast(closing as decimal(38, 3)) as closing,
        cast(deferred_revenue as decimal(38, 3)) as deferred_revenue,
        cast(unbilled_revenue as decimal(38, 3)) as unbilled_revenue,
        -- numerics: USD at the invoice date's rate
        cast(usd_per_unit as decimal(38, 9)) as usd_per_unit,
        cast(opening_usd as decimal(38, 2)) as opening_usd,
        cast(billed_usd as decimal(38, 2)) as billed_usd,
        cast(credited_usd as decimal(38, 2)) as credited_usd,
        cast(written_off_usd as decimal(38, 2)) as written_off_usd,
        cast(opening_usd + billed_usd - credited_usd - written_off_usd - closing_usd as decimal(38, 2))
            as recognized_usd,
        cast(closing_usd as decimal(38, 2)) as closing_usd,
        cast(deferred_revenue_usd as decimal(38, 2)) as deferred_revenue_usd,
        cast(unbilled_revenue_usd as decimal(38, 2)) as unbilled_revenue_usd
    from usd

)

select * from final
