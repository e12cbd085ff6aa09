{{
    config(
        materialized='incremental',
        unique_key='invoice_line_id',
        incremental_strategy='delete+insert',
        on_schema_change='append_new_columns',
        pre_hook="{{ incremental_changes('invoice_id', 'fct_invoice_line__changes') }}",
        post_hook="{{ incremental_changes_done() }}",
    )
}}
-- Invoice lines (a big fact, built incrementally): Stripe lines with their product, service
-- period and ERP line. A run rebuilds the lines of the invoices created or changed since the
-- last one, and of those whose rate or product mapping moved or that are gone
-- (macro fct_invoice_line__changes; docs/models.md, Incremental models).
-- depends_on: {{ ref('stg_billing__events') }}
with

lines as (

    select * from {{ ref('stg_billing__invoice_lines') }}

),

invoices as (

    select * from {{ ref('stg_billing__invoices') }}

),

products as (

    select * from {{ ref('int_products_mapped') }}

),

fx as (

    select * from {{ ref('int_fx_rates_daily') }}

),

new_invoices as (

    select
        invoice_id,
        created_at,
        finalized_at
    from invoices
    {% if is_incremental() %}
        where invoice_id in {{ incremental_changed_keys() }}
    {% endif %}

),

final as (

    select
        -- ids
        cast(lines.invoice_line_id as varchar) as invoice_line_id,
        cast(lines.invoice_id as varchar) as invoice_id,
        cast(lines.subscription_id as varchar) as subscription_id,
        cast(lines.subscription_item_id as varchar) as subscription_item_id,
        cast(lines.price_id as varchar) as price_id,
        cast(products.product_code as varchar) as product_code,
        -- strings
        cast(lines.line_type as varchar) as line_type,
        cast(lines.description as varchar) as description,
        cast(lines.recurring_interval as varchar) as recurring_interval,
        cast(lines.currency_code as varchar) as currency_code,
        -- numerics
        cast(lines.quantity as bigint) as quantity,
        lines.amount,
        {{ to_usd('lines.amount', 'fx.usd_per_unit') }} as amount_usd,
        -- booleans
        lines.is_proration,
        -- timestamps
        cast(lines.period_start_at as timestamp) as service_period_start_at,
        cast(lines.period_end_at as timestamp) as service_period_end_at,
        cast(new_invoices.created_at as timestamp) as invoice_created_at,
        -- numerics added later (last, so an incremental table appends them in contract order):
        -- the line's discounts, and what revenue recognizes: before tax, after discounts
        -- (docs/metrics.md, Recognized and deferred revenue)
        cast(lines.discount_amount as decimal(38, 3)) as discount_amount,
        cast(lines.amount_excluding_tax - lines.discount_amount as decimal(38, 3)) as recognizable_amount,
        {{ to_usd('lines.discount_amount', 'fx.usd_per_unit') }} as discount_amount_usd,
        {{ to_usd('lines.amount_excluding_tax - lines.discount_amount', 'fx.usd_per_unit') }}
            as recognizable_amount_usd
    from lines
    inner join new_invoices on lines.invoice_id = new_invoices.invoice_id
    left join products on lines.product_id = products.product_id
    left join fx
        on
            lines.currency_code = fx.currency_code
            and cast(new_invoices.finalized_at as date) = fx.rate_date

)

select * from final
