-- One row per correction the ERP should receive, in the contract reverse ETL reads: the
-- record type (NetSuite REST), the action, the record (internal id, or the external id a
-- create upserts by), the field (SuiteQL spelling) with its current and desired value, the
-- full record body of a create (`payload`, JSON text), the exception it fixes and whether
-- policy needs a human to approve it. Only discrepancies whose mirror is the ERP appear.
with

exceptions as (

    select * from {{ ref('recon_exceptions') }}
    where mirror_system = 'erp'

),

xref as (

    select * from {{ ref('customer_xref') }}

),

accounts as (

    select * from {{ ref('stg_crm__accounts') }}

),

billing_customers as (

    select * from {{ ref('stg_billing__customers') }}

),

invoices as (

    select * from {{ ref('fct_invoice') }}

),

invoice_lines as (

    select * from {{ ref('fct_invoice_line') }}

),

payments as (

    select * from {{ ref('fct_payment') }}

),

charges as (

    select * from {{ ref('stg_billing__charges') }}

),

currencies as (

    select * from {{ ref('stg_erp__currencies') }}

),

-- The key a payment is posted under, as the company's own integration posts them (the
-- `erp_payment_reference` var; `auto`: the key most of the ERP's tied payments carry, the
-- charge on a tie), so a payment closeloop creates looks like every other one.
payment_key as (

    select
        {%- if var('erp_payment_reference') in ('charge', 'payment_intent') %}
            '{{ var("erp_payment_reference") }}' as payment_key
        {%- else %}
            case
                when
                    sum(case when erp_match_method = 'payment_intent' then 1 else 0 end)
                    > sum(case when erp_match_method = 'charge' then 1 else 0 end)
                    then 'payment_intent'
                else 'charge'
            end as payment_key
        {%- endif %}
    from payments

),

subsidiaries as (

    select * from {{ ref('stg_erp__subsidiaries') }}

),

products as (

    select * from {{ ref('dim_product') }}

),

customer_bodies as (

    -- subsidiary: the one keeping the customer's currency; a dollar customer abroad stays
    -- with the subsidiary of its country, else the parent
    select
        accounts.account_id,
        '{"externalId": ' || {{ json_string('accounts.account_id') }}
        || ', "companyName": ' || {{ json_string('accounts.account_name') }}
        || ', "email": ' || {{ json_string('billing_customers.email') }}
        || ', "custentity_cl_tax_id": ' || {{ json_string('accounts.tax_id') }}
        || ', "subsidiary": ' || {{ json_ref('coalesce(by_currency.subsidiary_id, by_country.subsidiary_id, 1)', 'null') }}
        || ', "currency": ' || {{ json_ref('currencies.currency_id', 'null') }}
        || '}' as payload
    from accounts
    inner join xref on accounts.account_id = xref.crm_account_id
    left join billing_customers on xref.billing_customer_id = billing_customers.customer_id
    left join currencies
        on coalesce(billing_customers.currency_code, accounts.currency_code) = currencies.currency_code
    left join subsidiaries as by_currency
        on
            currencies.currency_id = by_currency.currency_id
            and currencies.currency_code <> '{{ var("reporting_currency") }}'
    left join subsidiaries as by_country
        on accounts.billing_country_code = by_country.country_code

),

line_bodies as (

    select
        invoice_lines.invoice_id,
        '{"items": ['
        || {{ string_agg_ordered(
            "'{\"item\": ' || " ~ json_ref('products.erp_item_id', 'products.billing_product_id')
            ~ " || ', \"quantity\": ' || cast(invoice_lines.quantity as varchar)"
            ~ " || ', \"amount\": ' || " ~ json_string(format_amount('invoice_lines.amount', 'invoice_lines.currency_code'))
            ~ " || ', \"description\": ' || " ~ json_string('invoice_lines.description') ~ " || '}'",
            "', '",
            'invoice_lines.invoice_line_id'
        ) }}
        || ']}' as items
    from invoice_lines
    left join products on invoice_lines.product_code = products.product_code
    group by 1

),

invoice_bodies as (

    select
        invoices.invoice_id,
        '{"externalId": ' || {{ json_string('invoices.invoice_id') }}
        || ', "otherRefNum": ' || {{ json_string('invoices.invoice_id') }}
        || ', "entity": ' || {{ json_ref('xref.erp_customer_id', 'xref.crm_account_id') }}
        || ', "currency": ' || {{ json_ref('currencies.currency_id', 'null') }}
        || ', "tranDate": ' || {{ json_string('cast(invoices.invoice_date as varchar)') }}
        || ', "item": ' || coalesce(line_bodies.items, '{"items": []}')
        || '}' as payload
    from invoices
    left join xref on invoices.billing_customer_id = xref.billing_customer_id
    left join currencies on invoices.currency_code = currencies.currency_code
    left join line_bodies on invoices.invoice_id = line_bodies.invoice_id

),

payment_references as (

    select
        payments.*,
        case
            when payment_key.payment_key = 'payment_intent' and charges.payment_intent_id is not null
                then charges.payment_intent_id
            else payments.payment_id
        end as payment_reference
    from payments
    cross join payment_key
    left join charges on payments.payment_id = charges.charge_id

),

payment_bodies as (

    select
        payments.payment_id,
        payments.payment_reference,
        '{"externalId": ' || {{ json_string('payments.payment_reference') }}
        || ', "otherRefNum": ' || {{ json_string('payments.payment_reference') }}
        || ', "customer": ' || {{ json_ref('xref.erp_customer_id', 'xref.crm_account_id') }}
        || ', "currency": ' || {{ json_ref('currencies.currency_id', 'null') }}
        || ', "tranDate": ' || {{ json_string('cast(cast(payments.paid_at as date) as varchar)') }}
        || ', "payment": ' || {{ json_string(format_amount('payments.amount', 'payments.currency_code')) }}
        || ', "apply": {"items": [{"doc": ' || {{ json_ref('invoices.erp_invoice_id', 'payments.invoice_id') }}
        || ', "apply": true, "amount": ' || {{ json_string(format_amount('payments.amount', 'payments.currency_code')) }}
        || '}]}}' as payload
    from payment_references as payments
    left join invoices on payments.invoice_id = invoices.invoice_id
    left join xref on payments.billing_customer_id = xref.billing_customer_id
    left join currencies on payments.currency_code = currencies.currency_code
    where payments.payment_method = 'charge'

),

corrections as (

    select
        exceptions.exception_id,
        exceptions.exception_type,
        exceptions.correction_action,
        case
            when exceptions.exception_type like 'customer%' then 'customer'
            when exceptions.exception_type like 'invoice%' then 'invoice'
            else 'customerpayment'
        end as record_type,
        case
            when exceptions.exception_type = 'invoice_duplicate_in_erp' then 'delete'
            when exceptions.correction_action like 'create%' then 'create'
            else 'update'
        end as action,
        case when exceptions.correction_action not like 'create%' then exceptions.erp_id end
            as erp_id,
        case
            when exceptions.exception_type = 'customer_missing_in_erp' then exceptions.crm_id
            when exceptions.exception_type = 'payment_missing_in_erp'
                then coalesce(payment_bodies.payment_reference, exceptions.billing_id)
            when exceptions.correction_action like 'create%' then exceptions.billing_id
        end as external_id,
        case
            when exceptions.correction_action like 'create%' then 'externalid'
            when exceptions.exception_type = 'invoice_duplicate_in_erp' then null
            else exceptions.field_name
        end as field_name,
        case
            when exceptions.exception_type = 'invoice_duplicate_in_erp' then null
            else exceptions.wrong_value
        end as current_value,
        case
            when exceptions.exception_type = 'invoice_duplicate_in_erp' then null
            when exceptions.exception_type = 'customer_missing_in_erp' then exceptions.crm_id
            when exceptions.exception_type = 'payment_missing_in_erp'
                then coalesce(payment_bodies.payment_reference, exceptions.billing_id)
            when exceptions.correction_action like 'create%' then exceptions.billing_id
            else exceptions.correct_value
        end as desired_value,
        case
            when exceptions.exception_type = 'customer_missing_in_erp' then customer_bodies.payload
            when exceptions.exception_type = 'invoice_missing_in_erp' then invoice_bodies.payload
            when exceptions.exception_type = 'payment_missing_in_erp' then payment_bodies.payload
        end as payload,
        exceptions.currency_code,
        exceptions.amount_delta_usd,
        exceptions.requires_approval,
        exceptions.severity,
        exceptions.detected_at
    from exceptions
    left join customer_bodies
        on
            exceptions.exception_type = 'customer_missing_in_erp'
            and exceptions.crm_id = customer_bodies.account_id
    left join invoice_bodies
        on
            exceptions.exception_type = 'invoice_missing_in_erp'
            and exceptions.billing_id = invoice_bodies.invoice_id
    left join payment_bodies
        on
            exceptions.exception_type = 'payment_missing_in_erp'
            and exceptions.billing_id = payment_bodies.payment_id

),

final as (

    select
        {{ surrogate_key(['exception_id', 'record_type', 'action', 'erp_id', 'external_id', 'field_name']) }}
            as correction_id,
        cast(exception_id as varchar) as exception_id,
        cast(exception_type as varchar) as exception_type,
        cast(record_type as varchar) as record_type,
        cast(action as varchar) as action,
        cast(erp_id as varchar) as erp_id,
        cast(external_id as varchar) as external_id,
        cast(field_name as varchar) as field,
        cast(current_value as varchar) as current_value,
        cast(desired_value as varchar) as desired_value,
        cast(payload as varchar) as payload,
        cast(amount_delta_usd as decimal(38, 2)) as amount_delta_usd,
        requires_approval,
        cast(detected_at as timestamp) as detected_at,
        cast(correction_action as varchar) as correction_action,
        cast(currency_code as varchar) as currency_code,
        cast(severity as varchar) as severity
    from corrections

)

select * from final
