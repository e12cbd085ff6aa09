-- One golden record per real customer. Survivorship by system of record: identity and
-- firmographics from the CRM, billing contact and currency from billing, legal entity from the
-- ERP; a mirror fills a value only where the owner has none.
with

xref as (

    select * from {{ ref('customer_xref') }}

),

accounts as (

    select * from {{ ref('stg_crm__accounts') }}

),

billing as (

    select * from {{ ref('stg_billing__customers') }}

),

erp as (

    select * from {{ ref('stg_erp__customers') }}

),

subsidiaries as (

    select * from {{ ref('stg_erp__subsidiaries') }}

),

classified as (

    select * from {{ ref('int_customers_classified') }}

),

final as (

    select
        -- ids
        xref.customer_id,
        xref.crm_account_id,
        xref.billing_customer_id,
        xref.erp_customer_id,
        cast(erp.subsidiary_id as bigint) as subsidiary_id,
        -- strings
        cast(coalesce(accounts.account_name, billing.customer_name, erp.company_name) as varchar)
            as customer_name,
        cast(coalesce(accounts.tax_id, erp.tax_id) as varchar) as tax_id,
        cast(coalesce(accounts.billing_country_code, billing.address_country_code) as varchar)
            as country_code,
        cast(coalesce(billing.email, erp.email) as varchar) as billing_email,
        cast(accounts.website as varchar) as website,
        cast(accounts.industry as varchar) as industry,
        cast(coalesce(billing.currency_code, accounts.currency_code) as varchar) as currency_code,
        cast(subsidiaries.subsidiary_name as varchar) as subsidiary_name,
        cast(accounts.account_type as varchar) as crm_account_type,
        xref.match_method,
        xref.match_confidence,
        -- booleans
        coalesce(classified.is_customer, false) as is_customer,
        -- timestamps
        cast(coalesce(accounts.created_at, billing.created_at, erp.created_at) as timestamp)
            as created_at,
        -- how is_customer was decided
        cast(classified.customer_rule as varchar) as customer_rule
    from xref
    left join accounts on xref.crm_account_id = accounts.account_id
    left join billing on xref.billing_customer_id = billing.customer_id
    left join erp on xref.erp_customer_id = cast(erp.erp_customer_id as varchar)
    left join subsidiaries on erp.subsidiary_id = subsidiaries.subsidiary_id
    left join classified on xref.customer_id = classified.customer_id

)

select * from final
