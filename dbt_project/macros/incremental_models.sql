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

{# fct_invoice, by invoice: invoices created or changed in Stripe or gone; invoices whose ERP
   posting changed (an ERP invoice modified since the last build, the one it posted before, or
   one deleted), whose customer (customer_xref_members) or rate moved. #}
{% macro fct_invoice__changes() -%}
    {%- set erp_since = incremental_since('erp') -%}
    {{ incremental_billing_changes(['invoice']) }}
    union all
    select cast(invoice_id as varchar) from {{ ref('stg_billing__invoices') }}
    where created_at >= {{ incremental_since('billing') }}
    union all
    select cast(links.billing_invoice_id as varchar)
    from {{ ref('int_erp_invoice_links') }} as links
    inner join {{ ref('stg_erp__transactions') }} as transactions
        on links.transaction_id = transactions.transaction_id
    where transactions.last_modified_at >= {{ erp_since }}
    union all
    select target.invoice_id
    from {{ this }} as target
    left join {{ ref('stg_billing__invoices') }} as invoices on target.invoice_id = invoices.invoice_id
    left join {{ ref('stg_erp__transactions') }} as transactions
        on target.erp_invoice_id = cast(transactions.transaction_id as varchar)
    left join (
        select billing_customer_id, customer_id from {{ ref('customer_xref_members') }}
        where source_system = 'billing'
    ) as xref on target.billing_customer_id = xref.billing_customer_id
    left join {{ ref('int_fx_rates_daily') }} as fx
        on target.currency_code = fx.currency_code and target.invoice_date = fx.rate_date
    where
        invoices.invoice_id is null
        or (target.erp_invoice_id is not null and transactions.transaction_id is null)
        or transactions.last_modified_at >= {{ erp_since }}
        or {{ values_differ('target.customer_id', 'xref.customer_id') }}
        or {{ values_differ('target.usd_per_unit', 'cast(fx.usd_per_unit as decimal(38, 9))') }}
        or {{ values_differ('target.rate_effective_date', 'cast(fx.rate_effective_date as date)') }}
{%- endmacro %}

{# fct_payment, by payment (a charge, or an invoice paid out of band): charges and invoices
   created or changed in Stripe; ERP payments, or the ERP invoices they pay, modified since the
   last build (the charge, payment intent or invoice they name), and the payment an ERP payment
   was tied to before or that was deleted; payments whose customer or rate moved, or whose
   charge or invoice is gone. #}
{% macro fct_payment__changes() -%}
    {%- set since = incremental_since('billing') -%}
    {%- set erp_since = incremental_since('erp') -%}
    -- one read of the ERP applications (a CTE read many times: DuckDB materializes it)
    with

    applications as (

        select
            cast(erp_payment_id as varchar) as erp_payment_id,
            erp_invoice_id,
            payment_external_id,
            invoice_external_id,
            applied_amount
        from {{ ref('int_erp_payment_applications') }}

    ),

    erp_modified as (

        select transaction_id from {{ ref('stg_erp__transactions') }}
        where last_modified_at >= {{ erp_since }}

    ),

    -- the applications whose ERP payment or invoice was modified since
    changed_applications as (

        select
            payment_external_id,
            invoice_external_id
        from applications
        where
            erp_payment_id in (select cast(transaction_id as varchar) from erp_modified)
            or erp_invoice_id in (select transaction_id from erp_modified)

    ),

    -- what each ERP payment is applied to now (its links change without a new stamp on it
    -- when an invoice it paid is deleted)
    applied as (

        select
            erp_payment_id,
            sum(applied_amount) as applied_amount
        from applications
        group by 1

    )

    select cast(charge_id as varchar) as change_key from {{ ref('stg_billing__charges') }}
    where
        created_at >= {{ since }}
        or charge_id in ({{ incremental_billing_changes(['charge']) }})
    union all
    select changed.change_key || ':out_of_band'
    from ({{ incremental_billing_changes(['invoice']) }}) as changed
    union all
    select cast(invoice_id as varchar) || ':out_of_band' from {{ ref('stg_billing__invoices') }}
    where created_at >= {{ since }}
    union all
    select cast(charge_id as varchar) from {{ ref('stg_billing__charges') }}
    where
        charge_id in (select payment_external_id from changed_applications)
        or payment_intent_id in (select payment_external_id from changed_applications)
    union all
    select cast(invoice_external_id as varchar) || ':out_of_band' from changed_applications
    union all
    select target.payment_id
    from {{ this }} as target
    left join {{ ref('stg_erp__transactions') }} as transactions
        on target.erp_payment_id = cast(transactions.transaction_id as varchar)
    left join {{ ref('stg_billing__charges') }} as charges on target.payment_id = charges.charge_id
    left join {{ ref('stg_billing__invoices') }} as invoices on target.invoice_id = invoices.invoice_id
    left join (
        select billing_customer_id, customer_id from {{ ref('customer_xref_members') }}
        where source_system = 'billing'
    ) as xref on target.billing_customer_id = xref.billing_customer_id
    left join {{ ref('int_fx_rates_daily') }} as fx
        on target.currency_code = fx.currency_code and cast(target.paid_at as date) = fx.rate_date
    left join applied on target.erp_payment_id = applied.erp_payment_id
    where
        (target.erp_payment_id is not null and transactions.transaction_id is null)
        or transactions.last_modified_at >= {{ erp_since }}
        or (target.payment_method = 'charge' and charges.charge_id is null)
        or (target.payment_method = 'out_of_band' and invoices.invoice_id is null)
        or (
            target.payment_method = 'charge'
            and {{ values_differ('target.erp_applied_amount', 'cast(applied.applied_amount as decimal(38, 3))') }}
        )
        or (
            target.payment_method = 'out_of_band'
            and target.erp_payment_id is not null
            and not exists (
                select wires.erp_payment_id
                from applications as wires
                where
                    wires.erp_payment_id = target.erp_payment_id
                    and wires.invoice_external_id = target.invoice_id
                    and wires.applied_amount = target.erp_applied_amount
            )
        )
        or {{ values_differ('target.customer_id', 'xref.customer_id') }}
        or {{ values_differ('target.rate_effective_date', 'cast(fx.rate_effective_date as date)') }}
        or {{ values_differ(to_usd('target.amount', 'fx.usd_per_unit'), 'target.amount_usd') }}
{%- endmacro %}
