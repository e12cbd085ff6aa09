{#- Amounts converted to USD: (model, system, id, currency, amount, date, usd column). A null
    USD value next to a non-null amount is listed; nothing is a silent null. -#}
{%- set converted = [
    ('fct_invoice', 'billing', 'invoice_id', 'currency_code', 'total', 'invoice_date', 'total_usd'),
    ('fct_invoice_line', 'billing', 'invoice_line_id', 'currency_code', 'amount', 'cast(invoice_created_at as date)', 'amount_usd'),
    ('fct_payment', 'billing', 'payment_id', 'currency_code', 'amount', 'cast(paid_at as date)', 'amount_usd'),
    ('fct_credit_note', 'billing', 'credit_note_id', 'currency_code', 'total', 'cast(created_at as date)', 'total_usd'),
    ('fct_contract', 'crm', 'contract_id', 'currency_code', 'billing_period_amount', 'start_date', 'billing_period_amount_usd'),
    ('fct_subscription', 'billing', 'subscription_id', 'currency_code', 'mrr_amount', 'cast(null as date)', 'mrr_amount_usd'),
    ('mrr_movements', 'billing', 'mrr_movement_id', 'currency_code', 'movement_amount', 'month_start', 'movement_amount_usd'),
    ('ar_aging', 'billing', 'invoice_id', 'currency_code', 'amount_remaining', 'cast(as_of_at as date)', 'amount_remaining_usd'),
] -%}
-- One row per record kept but not converted or linked, with the reason in words: an amount
-- without an ERP rate for its date (fx_rate_missing) or for its currency at all
-- (currency_unknown), a Stripe product mapped to no product code (product_unmapped), a link
-- that names a record the other system does not have, or a record tied to nothing
-- (link_unresolved), an ERP currency in use whose precision is not its ISO 4217 minor unit
-- (currency_precision_mismatch). The marts keep these rows (USD figures exclude what has no rate);
-- `issue_id` hashes type, model and record, so it is stable across runs.
with

fx as (

    select * from {{ ref('int_fx_rates_daily') }}

),

clock as (

    select * from {{ ref('int_recon_clock') }}

),

first_rates as (

    select
        currency_code,
        min(rate_date) as first_rate_date
    from fx
    group by 1

),

unconverted as (

    {%- for model, system, id_col, currency_col, amount_col, date_col, usd_col in converted %}
        select
            '{{ model }}' as source_model,
            '{{ system }}' as source_system,
            cast({{ id_col }} as varchar) as record_id,
            cast({{ currency_col }} as varchar) as currency_code,
            cast({{ amount_col }} as decimal(38, 3)) as amount,
            {{ date_col }} as rate_date,
            '{{ amount_col }}' as amount_column
        from {{ ref(model) }}
        where {{ usd_col }} is null and {{ amount_col }} is not null
        {%- if not loop.last %}
            union all
        {%- endif %}
    {%- endfor %}

),

fx_issues as (

    select
        case when first_rates.currency_code is null then 'currency_unknown' else 'fx_rate_missing' end
            as issue_type,
        unconverted.source_system,
        unconverted.source_model,
        unconverted.record_id,
        case
            when first_rates.currency_code is null
                then
                    'the ERP has no rate for ' || coalesce(unconverted.currency_code, 'a null currency')
                    || ' against {{ var("reporting_currency") }}: ' || unconverted.amount_column
                    || ' is kept in its currency, without USD'
            when unconverted.rate_date is null
                then
                    'no document date to take a ' || unconverted.currency_code || ' rate at: '
                    || unconverted.amount_column || ' is kept without USD'
            else
                'no ' || unconverted.currency_code || ' rate effective on or before '
                || cast(unconverted.rate_date as varchar) || ' (the first is effective '
                || cast(first_rates.first_rate_date as varchar) || '): '
                || unconverted.amount_column || ' is kept without USD'
        end as reason,
        unconverted.currency_code,
        unconverted.amount,
        cast(unconverted.rate_date as timestamp) as detected_at
    from unconverted
    left join first_rates on unconverted.currency_code = first_rates.currency_code

),

kpi_issues as (

    select
        'fx_rate_missing' as issue_type,
        'billing' as source_system,
        'kpi_monthly' as source_model,
        currency_code || ' ' || cast(month_start as varchar) as record_id,
        cast(usd_missing_count as varchar) || ' amounts of ' || currency_code || ' in the month of '
        || cast(month_start as varchar) || ' have no USD rate: the _usd figures (and ALL) exclude them'
            as reason,
        currency_code,
        cast(null as decimal(38, 3)) as amount,
        cast(month_start as timestamp) as detected_at
    from {{ ref('kpi_monthly') }}
    where usd_missing_count > 0 and currency_code <> 'ALL'

),

recon_issues as (

    -- recon still reports the exception, without a USD delta (never at 1:1): it needs approval
    select
        'currency_unknown' as issue_type,
        exceptions.owner_system as source_system,
        'recon_exceptions' as source_model,
        exceptions.exception_id as record_id,
        'the ERP has no rate for ' || exceptions.currency_code
        || ' against {{ var("reporting_currency") }}: amount_delta_usd is null where amount_delta'
        || ' is not zero, and a correction of it needs approval' as reason,
        exceptions.currency_code,
        exceptions.amount_delta as amount,
        exceptions.detected_at
    from {{ ref('recon_exceptions') }} as exceptions
    left join first_rates on exceptions.currency_code = first_rates.currency_code
    where exceptions.currency_code is not null and first_rates.currency_code is null

),

iso_4217 as (

    select
        upper(currency_code) as currency_code,
        minor_unit
    from {{ ref('iso_4217_currencies') }}

),

currencies_in_use as (

    select upper(currency_code) as currency_code from {{ ref('fct_invoice') }}
    union
    select upper(currency_code) as currency_code from {{ ref('int_erp_invoices') }}

),

precision_issues as (

    -- the ERP rounds amounts to its currencyprecision: where it is not the ISO 4217 minor unit
    -- of a currency in use, the ERP and billing amounts can differ by less than a minor unit
    select
        'currency_precision_mismatch' as issue_type,
        'erp' as source_system,
        'stg_erp__currencies' as source_model,
        cast(erp_currencies.currency_id as varchar) as record_id,
        case
            when iso_4217.currency_code is null
                then
                    'ERP currency ' || erp_currencies.currency_code || ' (precision '
                    || coalesce(cast(erp_currencies.currency_precision as varchar), 'null')
                    || ') is not an active ISO 4217 currency; closeloop reads its amounts with '
                    || cast({{ currency_exponent('erp_currencies.currency_code') }} as varchar)
                    || ' decimals'
            else
                'ERP currency ' || erp_currencies.currency_code || ' has currencyprecision '
                || coalesce(cast(erp_currencies.currency_precision as varchar), 'null')
                || ', ISO 4217 gives ' || cast(iso_4217.minor_unit as varchar)
                || ' decimals (closeloop reads billing amounts with '
                || cast({{ currency_exponent('erp_currencies.currency_code') }} as varchar)
                || '): the ERP may round amounts otherwise than billing does'
        end as reason,
        erp_currencies.currency_code,
        cast(null as decimal(38, 3)) as amount,
        erp_currencies.last_modified_at as detected_at
    from {{ ref('stg_erp__currencies') }} as erp_currencies
    inner join currencies_in_use
        on upper(erp_currencies.currency_code) = currencies_in_use.currency_code
    left join iso_4217 on upper(erp_currencies.currency_code) = iso_4217.currency_code
    where
        iso_4217.currency_code is null
        or erp_currencies.currency_precision is null
        or erp_currencies.currency_precision <> iso_4217.minor_unit

),

product_issues as (

    select
        'product_unmapped' as issue_type,
        'billing' as source_system,
        'int_products_mapped' as source_model,
        product_id as record_id,
        'Stripe product ' || coalesce('"' || product_name || '"', product_id) || ' maps to no product code: '
        {%- if var('product_code_metadata_key') %}
            || 'no metadata.{{ var("product_code_metadata_key") }}, '
        {%- endif %}
        || 'no ERP item whose externalid is its id, no CRM product or ERP item of that code or name'
            as reason,
        cast(null as varchar) as currency_code,
        cast(null as decimal(38, 3)) as amount,
        cast(null as timestamp) as detected_at
    from {{ ref('int_products_mapped') }}
    where product_code is null

),

accounts as (

    select {{ sf_id15('account_id') }} as account_key from {{ ref('stg_crm__accounts') }}

),

contracts as (

    select {{ sf_id15('contract_id') }} as contract_key from {{ ref('stg_crm__contracts') }}

),

link_issues as (

    select
        'link_unresolved' as issue_type,
        'billing' as source_system,
        'stg_billing__customers' as source_model,
        customers.customer_id as record_id,
        customers.crm_account_link_column || ' names Salesforce Account ' || customers.crm_account_id
        || ', which the CRM does not have' as reason,
        customers.currency_code,
        cast(null as decimal(38, 3)) as amount,
        customers.created_at as detected_at
    from {{ ref('stg_billing__customers') }} as customers
    where
        customers.crm_account_id is not null
        and {{ sf_id15('customers.crm_account_id') }} not in (select a.account_key from accounts as a)
    union all
    select
        'link_unresolved' as issue_type,
        'billing' as source_system,
        'stg_billing__subscriptions' as source_model,
        subscriptions.subscription_id as record_id,
        case
            when subscriptions.crm_contract_id is null
                then
                    'live subscription: no metadata column holds a Salesforce Contract id (800...)'
                    || ' (var billing_subscription_crm_link)'
            else
                subscriptions.crm_contract_link_column || ' names Salesforce Contract '
                || subscriptions.crm_contract_id || ', which the CRM does not have'
        end as reason,
        subscriptions.currency_code,
        cast(null as decimal(38, 3)) as amount,
        subscriptions.created_at as detected_at
    from {{ ref('stg_billing__subscriptions') }} as subscriptions
    where
        (
            subscriptions.crm_contract_id is null
            and subscriptions.subscription_status in ('active', 'past_due')
        )
        or (
            subscriptions.crm_contract_id is not null
            and {{ sf_id15('subscriptions.crm_contract_id') }} not in (select c.contract_key from contracts as c)
        )
    union all
    select
        'link_unresolved' as issue_type,
        case when xref.has_billing_customer then 'billing' else 'erp' end as source_system,
        'customer_xref' as source_model,
        coalesce(xref.billing_customer_id, xref.erp_customer_id) as record_id,
        case when xref.has_billing_customer then 'billing customer ' else 'ERP customer ' end
        || coalesce(xref.billing_customer_id, xref.erp_customer_id)
        || ' is tied to no CRM account (no id link; no unambiguous tax id, domain or name match)'
            as reason,
        cast(null as varchar) as currency_code,
        cast(null as decimal(38, 3)) as amount,
        cast(null as timestamp) as detected_at
    from {{ ref('customer_xref') }} as xref
    where not xref.has_crm_account
    union all
    select
        'link_unresolved' as issue_type,
        'erp' as source_system,
        'int_erp_invoices' as source_model,
        cast(erp_invoices.transaction_id as varchar) as record_id,
        'ERP invoice ' || coalesce(erp_invoices.transaction_number, cast(erp_invoices.transaction_id as varchar))
        || ' names no Stripe invoice (id or number) in {{ var("erp_invoice_reference_fields") | join(", ") }}'
            as reason,
        erp_invoices.currency_code,
        erp_invoices.foreign_total as amount,
        erp_invoices.created_at as detected_at
    from {{ ref('int_erp_invoices') }} as erp_invoices
    where erp_invoices.billing_invoice_id is null and not erp_invoices.is_voided
    union all
    select distinct
        'link_unresolved' as issue_type,
        'erp' as source_system,
        'int_erp_payment_applications' as source_model,
        cast(applications.erp_payment_id as varchar) as record_id,
        'ERP payment ' || cast(applications.erp_payment_id as varchar) || ' (externalid '
        || coalesce(applications.payment_external_id, 'none')
        || ') names no Stripe charge or payment intent (var erp_payment_reference) and pays no'
        || ' invoice billing has as paid out of band' as reason,
        applications.currency_code,
        applications.payment_total as amount,
        applications.created_at as detected_at
    from {{ ref('int_erp_payment_applications') }} as applications
    left join {{ ref('fct_payment') }} as payments
        on cast(applications.erp_payment_id as varchar) = payments.erp_payment_id
    -- a second posting of a charge names it elsewhere: recon lists it (payment_duplicate_in_erp)
    left join {{ ref('int_erp_cash_documents') }} as documents
        on
            applications.erp_payment_id = documents.transaction_id
            and documents.billing_id is not null
    where payments.erp_payment_id is null and documents.transaction_id is null

),

unioned as (

    select * from fx_issues
    union all
    select * from kpi_issues
    union all
    select * from recon_issues
    union all
    select * from precision_issues
    union all
    select * from product_issues
    union all
    select * from link_issues

),

final as (

    select
        {{ surrogate_key(['unioned.issue_type', 'unioned.source_model', 'unioned.record_id']) }} as issue_id,
        cast(unioned.issue_type as varchar) as issue_type,
        cast(unioned.source_system as varchar) as source_system,
        cast(unioned.source_model as varchar) as source_model,
        cast(unioned.record_id as varchar) as record_id,
        cast(unioned.reason as varchar) as reason,
        cast(unioned.currency_code as varchar) as currency_code,
        cast(unioned.amount as decimal(38, 3)) as amount,
        cast(coalesce(unioned.detected_at, clock.as_of_at) as timestamp) as detected_at
    from unioned
    cross join clock

)

select * from final
