-- Open receivables at the as-of instant by days past due. Billing owns the invoice, so an
-- invoice written off there (uncollectible) is no longer receivable here.
with

invoices as (

    select * from {{ ref('fct_invoice') }}

),

clock as (

    select * from {{ ref('int_recon_clock') }}

),

fx as (

    select * from {{ ref('int_fx_rates_daily') }}

),

open_invoices as (

    select
        invoices.*,
        clock.as_of_at,
        {{ days_between('coalesce(invoices.due_at, invoices.finalized_at)', 'clock.as_of_at') }}
            as days_past_due
    from invoices
    cross join clock
    where invoices.invoice_status = 'open'

),

final as (

    select
        open_invoices.invoice_id,
        open_invoices.billing_customer_id,
        open_invoices.customer_id,
        open_invoices.currency_code,
        open_invoices.amount_remaining,
        {{ to_usd('open_invoices.amount_remaining', 'fx.usd_per_unit') }} as amount_remaining_usd,
        cast(
            case when open_invoices.days_past_due < 0 then 0 else open_invoices.days_past_due end
            as bigint
        ) as days_past_due,
        cast(case
            when open_invoices.days_past_due <= 0 then 'current'
            when open_invoices.days_past_due <= 30 then '1-30'
            when open_invoices.days_past_due <= 60 then '31-60'
            when open_invoices.days_past_due <= 90 then '61-90'
            else '90+'
        end as varchar) as aging_bucket,
        open_invoices.finalized_at,
        open_invoices.due_at,
        open_invoices.as_of_at
    from open_invoices
    left join fx
        on
            open_invoices.currency_code = fx.currency_code
            and cast(open_invoices.as_of_at as date) = fx.rate_date

)

select * from final
