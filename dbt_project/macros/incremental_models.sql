{# The keys each incremental model rebuilds (macros/incremental.sql; docs/models.md,
   "Incremental models"). Each returns a query of `change_key`. #}

{# fct_invoice_line, by invoice: invoices created or changed in Stripe (a changed invoice's
   lines are landed again), invoices whose rate or lines' product mapping moved, and lines whose
   invoice is gone. #}
{% macro fct_invoice_line__changes() -%}
    {%- set since = incremental_since('billing') -%}
    {{ incremental_billing_changes(['invoice']) }}
    union all
    select cast(invoice_id as varchar) from {{ ref('stg_billing__invoices') }}
    where created_at >= {{ since }}
    union all
    -- the invoice is gone, its date's rate moved (a rate entered late), or the line's product
    -- maps to another code now
    select target.invoice_id
    from {{ this }} as target
    left join {{ ref('stg_billing__invoices') }} as invoices on target.invoice_id = invoices.invoice_id
    left join {{ ref('int_fx_rates_daily') }} as fx
        on
            target.currency_code = fx.currency_code
            and cast(invoices.finalized_at as date) = fx.rate_date
    left join {{ ref('stg_billing__invoice_lines') }} as lines
        on target.invoice_line_id = lines.invoice_line_id
    left join {{ ref('int_products_mapped') }} as products on lines.product_id = products.product_id
    where
        invoices.invoice_id is null
        or {{ values_differ(to_usd('target.amount', 'fx.usd_per_unit'), 'target.amount_usd') }}
        or {{ values_differ('target.product_code', 'products.product_code') }}
{%- endmacro %}

{# int_revenue_recognized_months, by invoice: invoices and credit notes created or changed in
   Stripe, invoices whose customer or rate moved or that are gone, and lines or credit notes
   gone. #}
{% macro int_revenue_recognized_months__changes() -%}
    {%- set since = incremental_since('billing') -%}
    {{ incremental_billing_changes(['invoice']) }}
    union all
    select cast(invoice_id as varchar) from {{ ref('fct_invoice') }}
    where created_at >= {{ since }}
    union all
    select cast(credit_notes.invoice_id as varchar)
    from {{ ref('stg_billing__credit_notes') }} as credit_notes
    where
        credit_notes.created_at >= {{ since }}
        or credit_notes.credit_note_id in ({{ incremental_billing_changes(['credit_note']) }})
    union all
    select target.invoice_id
    from (
        select distinct invoice_id, customer_id, usd_per_unit from {{ this }}
    ) as target
    left join {{ ref('fct_invoice') }} as invoices on target.invoice_id = invoices.invoice_id
    where
        invoices.invoice_id is null
        or {{ values_differ('target.customer_id', 'invoices.customer_id') }}
        or {{ values_differ('target.usd_per_unit', 'invoices.usd_per_unit') }}
    union all
    select target.invoice_id
    from {{ this }} as target
    where
        not exists (
            select lines.invoice_line_id from {{ ref('fct_invoice_line') }} as lines
            where lines.invoice_line_id = target.invoice_line_id
        )
        and not exists (
            select credit_notes.credit_note_id
            from {{ ref('stg_billing__credit_notes') }} as credit_notes
            where credit_notes.credit_note_id = target.invoice_line_id
        )
{%- endmacro %}
