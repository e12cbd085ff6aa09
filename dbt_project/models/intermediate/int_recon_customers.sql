-- Customer discrepancies: a CRM customer (by behaviour: int_customers_classified) missing in
-- billing or the ERP, and ERP names that differ from the CRM (the system of record). An account
-- may have many billing customers (one per currency) and ERP customers (one per subsidiary):
-- missing in the ERP is raised per billing customer without an ERP counterpart
-- (customer_xref_members), and a name per ERP customer.
with

xref as (

    select * from {{ ref('customer_xref') }}

),

members as (

    select * from {{ ref('customer_xref_members') }}

),

accounts as (

    select * from {{ ref('stg_crm__accounts') }}

),

contracts as (

    select * from {{ ref('stg_crm__contracts') }}

),

erp as (

    select * from {{ ref('stg_erp__customers') }}

),

classified as (

    select * from {{ ref('int_customers_classified') }}

),

activated as (

    select
        account_id,
        max(activated_at) as activated_at
    from contracts
    where contract_status = 'Activated'
    group by 1

),

missing_in_billing as (

    select
        'customer_missing_in_billing' as exception_type,
        xref.crm_account_id as crm_id,
        cast(null as varchar) as billing_id,
        xref.erp_customer_id as erp_id,
        cast(null as varchar) as field_name,
        cast(null as varchar) as correct_value,
        cast(null as varchar) as wrong_value,
        cast(null as varchar) as currency_code,
        cast(null as decimal(38, 3)) as amount_delta,
        activated.activated_at as detected_at
    from xref
    inner join activated on xref.crm_account_id = activated.account_id
    where xref.billing_customer_id is null

),

missing_in_erp as (

    -- each billing customer of a customer account without an ERP counterpart, or the account
    -- itself when it has no billing customer and no ERP customer
    select
        'customer_missing_in_erp' as exception_type,
        xref.crm_account_id as crm_id,
        members.billing_customer_id as billing_id,
        cast(null as varchar) as erp_id,
        cast(null as varchar) as field_name,
        cast(null as varchar) as correct_value,
        cast(null as varchar) as wrong_value,
        cast(null as varchar) as currency_code,
        cast(null as decimal(38, 3)) as amount_delta,
        accounts.last_modified_at as detected_at
    from xref
    inner join accounts on xref.crm_account_id = accounts.account_id
    inner join classified on xref.customer_id = classified.customer_id
    left join members
        on
            xref.customer_id = members.customer_id
            and members.source_system = 'billing'
    where
        classified.is_customer
        and (
            (members.billing_customer_id is not null and members.erp_customer_id is null)
            or (members.billing_customer_id is null and not xref.has_erp_customer)
        )

),

name_mismatch as (

    select
        'customer_attribute_mismatch' as exception_type,
        members.crm_account_id as crm_id,
        members.billing_customer_id as billing_id,
        members.erp_customer_id as erp_id,
        'companyname' as field_name,
        accounts.account_name as correct_value,
        erp.company_name as wrong_value,
        cast(null as varchar) as currency_code,
        cast(null as decimal(38, 3)) as amount_delta,
        case
            when erp.last_modified_at > accounts.last_modified_at then erp.last_modified_at
            else accounts.last_modified_at
        end as detected_at
    from members
    inner join accounts on members.crm_account_id = accounts.account_id
    inner join erp on members.erp_customer_id = cast(erp.erp_customer_id as varchar)
    where members.source_system = 'erp' and accounts.account_name <> erp.company_name

),

final as (

    select * from missing_in_billing
    union all
    select * from missing_in_erp
    union all
    select * from name_mismatch

)

select * from final
