-- Open receivables at the as-of instant by days past due: the as-of month's rows of
-- ar_aging_monthly (definitions: docs/metrics.md, Open AR, aging and DSO), so its total is
-- kpi_monthly's open_ar of that month. Billing owns the invoice, so an invoice written off
-- there (uncollectible) is no longer receivable here.
with

aging as (

    select * from {{ ref('ar_aging_monthly') }}

),

clock as (

    select * from {{ ref('int_recon_clock') }}

),

final as (

    select
        aging.invoice_id,
        aging.billing_customer_id,
        aging.customer_id,
        aging.currency_code,
        aging.amount_remaining,
        aging.amount_remaining_usd,
        aging.days_past_due,
        aging.aging_bucket,
        aging.finalized_at,
        aging.due_at,
        aging.as_of_at
    from aging
    cross join clock
    where aging.month_start = cast(date_trunc('month', clock.as_of_at) as date)

)

select * from final
