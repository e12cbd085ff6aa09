-- One typed row per ERP record change, in the contract reverse ETL reads: the record type
-- (NetSuite REST), the action, the record (internal id, or the external id a create upserts
-- by), the field (SuiteQL spelling, and `record_field`, the record API's name) with its current
-- and desired value, the exception it fixes and whether policy needs a human to approve it.
-- The record's fields are typed columns named as the NetSuite REST record API names them
-- (snake case: `company_name`, `entity_ref`, `tran_date`, `payment`, ...; an invoice's lines
-- are rows of `erp_correction_lines`); reverse ETL assembles the request body from them.
-- `payload` (JSON text) is derived from the same values for compatibility and is not read.
-- Only discrepancies whose mirror is the ERP appear, and never one a person accepted as it is
-- (`closeloop exceptions accept`, until `exceptions reopen`): write-back leaves it alone.
with

accepted as (

    {{ accepted_exception_ids() }}

),

exceptions as (

    select * from {{ ref('recon_exceptions') }}
    where
        mirror_system = 'erp'
        and exception_id not in (select accepted.exception_id from accepted)
        -- a person corrects these in the ERP (macro manual_exception_types)
        and exception_type not in ('{{ manual_exception_types() | join("', '") }}')

),

xref as (

    select * from {{ ref('customer_xref') }}

),

-- each billing customer with its ERP counterpart (one account may be billed in many
-- currencies and booked in many subsidiaries): where its invoices and payments are posted
billing_members as (

    select * from {{ ref('customer_xref_members') }}
    where source_system = 'billing'

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

customer_targets as (

    -- the ERP customer closeloop creates for an account's billing customer without an ERP
    -- counterpart (or for an account with neither): keyed by the account id, unless an ERP
    -- customer already holds it or another billing customer of the account is the primary one,
    -- then `<account id>-<currency>` (one ERP customer per subsidiary; external ids are unique)
    select
        xref.crm_account_id as account_id,
        members.billing_customer_id,
        case
            when
                xref.crm_account_id not in (
                    select e.external_id from {{ ref('stg_erp__customers') }} as e
                    where e.external_id is not null
                )
                and coalesce(members.billing_customer_id, '') = coalesce(xref.billing_customer_id, '')
                then xref.crm_account_id
            else xref.crm_account_id || '-' || coalesce(billing_customers.currency_code, accounts.currency_code)
        end as external_id
    from xref
    inner join accounts on xref.crm_account_id = accounts.account_id
    left join billing_members as members on xref.customer_id = members.customer_id
    left join billing_customers on members.billing_customer_id = billing_customers.customer_id

),

customer_bodies as (

    -- subsidiary: the one keeping the customer's currency; a dollar customer abroad stays
    -- with the subsidiary of its country, else the parent
    select
        accounts.account_id,
        customer_targets.billing_customer_id,
        customer_targets.external_id,
        accounts.account_name as company_name,
        billing_customers.email,
        accounts.tax_id as custentity_cl_tax_id,
        cast(coalesce(by_currency.subsidiary_id, by_country.subsidiary_id, 1) as varchar)
            as subsidiary_ref,
        cast(currencies.currency_id as varchar) as currency_ref,
        coalesce(billing_customers.currency_code, accounts.currency_code) as currency_code,
        '{"externalId": ' || {{ json_string('customer_targets.external_id') }}
        || ', "companyName": ' || {{ json_string('accounts.account_name') }}
        || ', "email": ' || {{ json_string('billing_customers.email') }}
        || ', "custentity_cl_tax_id": ' || {{ json_string('accounts.tax_id') }}
        || ', "subsidiary": ' || {{ json_ref('coalesce(by_currency.subsidiary_id, by_country.subsidiary_id, 1)', 'null') }}
        || ', "currency": ' || {{ json_ref('currencies.currency_id', 'null') }}
        || '}' as payload
    from accounts
    inner join customer_targets on accounts.account_id = customer_targets.account_id
    left join billing_customers on customer_targets.billing_customer_id = billing_customers.customer_id
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
        cast(xref.erp_customer_id as varchar) as entity_ref,
        case when xref.erp_customer_id is null then coalesce(targets.external_id, xref.crm_account_id) end
            as entity_external_id,
        cast(currencies.currency_id as varchar) as currency_ref,
        cast(invoices.invoice_date as date) as tran_date,
        '{"externalId": ' || {{ json_string('invoices.invoice_id') }}
        || ', "otherRefNum": ' || {{ json_string('invoices.invoice_id') }}
        || ', "entity": ' || {{ json_ref('xref.erp_customer_id', 'coalesce(targets.external_id, xref.crm_account_id)') }}
        || ', "currency": ' || {{ json_ref('currencies.currency_id', 'null') }}
        || ', "tranDate": ' || {{ json_string('cast(invoices.invoice_date as varchar)') }}
        || ', "item": ' || coalesce(line_bodies.items, '{"items": []}')
        || '}' as payload
    from invoices
    left join billing_members as xref on invoices.billing_customer_id = xref.billing_customer_id
    left join customer_targets as targets on xref.billing_customer_id = targets.billing_customer_id
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
        cast(xref.erp_customer_id as varchar) as customer_ref,
        case when xref.erp_customer_id is null then coalesce(targets.external_id, xref.crm_account_id) end
            as customer_external_id,
        cast(currencies.currency_id as varchar) as currency_ref,
        cast(payments.paid_at as date) as tran_date,
        payments.amount as payment,
        cast(invoices.erp_invoice_id as varchar) as apply_doc_ref,
        case when invoices.erp_invoice_id is null then payments.invoice_id end
            as apply_doc_external_id,
        '{"externalId": ' || {{ json_string('payments.payment_reference') }}
        || ', "otherRefNum": ' || {{ json_string('payments.payment_reference') }}
        || ', "customer": ' || {{ json_ref('xref.erp_customer_id', 'coalesce(targets.external_id, xref.crm_account_id)') }}
        || ', "currency": ' || {{ json_ref('currencies.currency_id', 'null') }}
        || ', "tranDate": ' || {{ json_string('cast(cast(payments.paid_at as date) as varchar)') }}
        || ', "payment": ' || {{ json_string(format_amount('payments.amount', 'payments.currency_code')) }}
        || ', "apply": {"items": [{"doc": ' || {{ json_ref('invoices.erp_invoice_id', 'payments.invoice_id') }}
        || ', "apply": true, "amount": ' || {{ json_string(format_amount('payments.amount', 'payments.currency_code')) }}
        || '}]}}' as payload
    from payment_references as payments
    left join invoices on payments.invoice_id = invoices.invoice_id
    left join billing_members as xref on payments.billing_customer_id = xref.billing_customer_id
    left join customer_targets as targets on xref.billing_customer_id = targets.billing_customer_id
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
            when exceptions.exception_type = 'customer_missing_in_erp' then coalesce(customer_bodies.external_id, exceptions.crm_id)
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
            when exceptions.exception_type = 'customer_missing_in_erp' then coalesce(customer_bodies.external_id, exceptions.crm_id)
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
        -- the record API's name of the field an update changes
        case
            when exceptions.correction_action like 'create%' then null
            when exceptions.exception_type = 'invoice_duplicate_in_erp' then null
            when exceptions.exception_type = 'customer_attribute_mismatch'
                then case lower(exceptions.field_name)
                    when 'companyname' then 'companyName'
                    when 'entityid' then 'entityId'
                    when 'isinactive' then 'isInactive'
                    else exceptions.field_name
                end
            when lower(exceptions.field_name) in ('foreigntotal', 'total', 'amount')
                then case when exceptions.exception_type like 'invoice%' then 'total' else 'payment' end
            when lower(exceptions.field_name) = 'otherrefnum' then 'otherRefNum'
            when lower(exceptions.field_name) = 'trandate' then 'tranDate'
            when lower(exceptions.field_name) = 'duedate' then 'dueDate'
            else lower(exceptions.field_name)
        end as record_field,
        case
            when exceptions.exception_type = 'customer_missing_in_erp' then customer_bodies.company_name
            when
                exceptions.exception_type = 'customer_attribute_mismatch'
                and lower(exceptions.field_name) = 'companyname'
                then exceptions.correct_value
        end as company_name,
        customer_bodies.email,
        customer_bodies.custentity_cl_tax_id,
        customer_bodies.subsidiary_ref,
        case
            when exceptions.exception_type = 'customer_missing_in_erp' then customer_bodies.currency_ref
            when exceptions.exception_type = 'invoice_missing_in_erp' then invoice_bodies.currency_ref
            when exceptions.exception_type = 'payment_missing_in_erp' then payment_bodies.currency_ref
            when exceptions.exception_type = 'invoice_currency_mismatch'
                then cast(desired_currency.currency_id as varchar)
        end as currency_ref,
        invoice_bodies.entity_ref,
        invoice_bodies.entity_external_id,
        payment_bodies.customer_ref,
        payment_bodies.customer_external_id,
        coalesce(invoice_bodies.tran_date, payment_bodies.tran_date) as tran_date,
        case
            when exceptions.exception_type = 'invoice_missing_in_erp' then exceptions.billing_id
            when exceptions.exception_type = 'payment_missing_in_erp'
                then payment_bodies.payment_reference
        end as other_ref_num,
        case
            when exceptions.exception_type = 'payment_missing_in_erp' then payment_bodies.payment
            when exceptions.exception_type = 'payment_amount_mismatch'
                then cast(exceptions.correct_value as decimal(38, 3))
        end as payment,
        payment_bodies.apply_doc_ref,
        payment_bodies.apply_doc_external_id,
        payment_bodies.payment as apply_amount,
        case
            when exceptions.exception_type = 'invoice_amount_mismatch'
                then cast(exceptions.correct_value as decimal(38, 3))
        end as total,
        case
            when exceptions.exception_type = 'invoice_status_mismatch' then exceptions.correct_value
        end as status_ref,
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
            and coalesce(exceptions.billing_id, '') = coalesce(customer_bodies.billing_customer_id, '')
    left join invoice_bodies
        on
            exceptions.exception_type = 'invoice_missing_in_erp'
            and exceptions.billing_id = invoice_bodies.invoice_id
    left join payment_bodies
        on
            exceptions.exception_type = 'payment_missing_in_erp'
            and exceptions.billing_id = payment_bodies.payment_id
    left join currencies as desired_currency
        on
            exceptions.exception_type = 'invoice_currency_mismatch'
            and upper(exceptions.correct_value) = desired_currency.currency_code

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
        cast(severity as varchar) as severity,
        -- the record's fields, typed, named as the NetSuite REST record API names them
        cast(record_field as varchar) as record_field,
        cast(company_name as varchar) as company_name,
        cast(email as varchar) as email,
        cast(custentity_cl_tax_id as varchar) as custentity_cl_tax_id,
        cast(subsidiary_ref as varchar) as subsidiary_ref,
        cast(currency_ref as varchar) as currency_ref,
        cast(entity_ref as varchar) as entity_ref,
        cast(entity_external_id as varchar) as entity_external_id,
        cast(customer_ref as varchar) as customer_ref,
        cast(customer_external_id as varchar) as customer_external_id,
        cast(tran_date as date) as tran_date,
        cast(other_ref_num as varchar) as other_ref_num,
        cast(payment as decimal(38, 3)) as payment,
        cast(apply_doc_ref as varchar) as apply_doc_ref,
        cast(apply_doc_external_id as varchar) as apply_doc_external_id,
        cast(apply_amount as decimal(38, 3)) as apply_amount,
        cast(total as decimal(38, 3)) as total,
        cast(status_ref as varchar) as status_ref,
        cast({{ currency_exponent('currency_code') }} as integer) as currency_exponent
    from corrections

)

select * from final
