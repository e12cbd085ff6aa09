{%- set cols = raw_columns(source('raw_billing', 'customers')) -%}
{%- set link = crm_link(cols, var('billing_customer_crm_link'), '001') -%}

with

source as (

    select * from {{ source('raw_billing', 'customers') }}
    where {{ point_in_time(cols, 'billing') }}

),

renamed as (

    select
        id as customer_id,
        {{ link.value }} as crm_account_id,
        {{ link.column }} as crm_account_link_column,
        {{ raw_column(cols, 'name', 'varchar') }} as customer_name,
        {{ raw_column(cols, 'email', 'varchar') }} as email,
        {{ raw_column(cols, 'phone', 'varchar') }} as phone,
        {{ raw_column(cols, 'address__line1', 'varchar') }} as address_line1,
        {{ raw_column(cols, 'address__city', 'varchar') }} as address_city,
        {{ raw_column(cols, 'address__postal_code', 'varchar') }} as address_postal_code,
        {{ raw_column(cols, 'address__country', 'varchar') }} as address_country_code,
        upper({{ raw_column(cols, 'currency', 'varchar') }}) as currency_code,
        {{ raw_column(cols, 'invoice_prefix', 'varchar') }} as invoice_prefix,
        {{ raw_column(cols, 'tax_exempt', 'varchar') }} as tax_exempt,
        coalesce({{ raw_column(cols, 'delinquent', 'boolean') }}, false) as is_delinquent,
        coalesce({{ raw_column(cols, 'deleted', 'boolean') }}, false) as is_deleted,
        {{ raw_column(cols, 'livemode', 'boolean') }} as is_livemode,
        {{ epoch_to_timestamp(raw_column(cols, 'created', 'bigint')) }} as created_at
    from source

)

select * from renamed
