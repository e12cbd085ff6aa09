{%- set cols = raw_columns(source('raw_erp', 'customer')) -%}

with

source as (

    select * from {{ source('raw_erp', 'customer') }}
    where {{ point_in_time(cols, 'erp') }}

),

renamed as (

    select
        id as erp_customer_id,
        {{ raw_column(cols, 'externalid', 'varchar') }} as external_id,
        {{ raw_column(cols, 'subsidiary', 'bigint') }} as subsidiary_id,
        {{ raw_column(cols, 'currency', 'bigint') }} as currency_id,
        {{ raw_column(cols, 'terms', 'bigint') }} as terms_id,
        {{ raw_column(cols, 'entityid', 'varchar') }} as entity_number,
        {{ raw_column(cols, 'companyname', 'varchar') }} as company_name,
        {{ raw_column(cols, 'email', 'varchar') }} as email,
        {{ raw_column(cols, 'custentity_cl_tax_id', 'varchar') }} as tax_id,
        coalesce({{ raw_column(cols, 'isinactive', 'boolean') }}, false) as is_inactive,
        {{ to_utc(raw_column(cols, 'datecreated', 'timestamp')) }} as created_at,
        {{ to_utc(raw_column(cols, 'lastmodifieddate', 'timestamp')) }} as last_modified_at
    from source

)

select * from renamed
