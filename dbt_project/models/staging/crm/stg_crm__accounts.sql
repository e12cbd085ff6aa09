{%- set cols = raw_columns(source('raw_crm', 'account')) -%}

with

source as (

    select * from {{ source('raw_crm', 'account') }}
    where {{ point_in_time(cols, 'crm') }}

),

renamed as (

    select
        {{ raw_column(cols, 'id', 'varchar') }} as account_id,
        {{ raw_column(cols, 'owner_id', 'varchar') }} as owner_user_id,
        {{ raw_column(cols, 'name', 'varchar') }} as account_name,
        {{ raw_column(cols, 'type', 'varchar') }} as account_type,
        {{ raw_column(cols, 'industry', 'varchar') }} as industry,
        {{ raw_column(cols, 'website', 'varchar') }} as website,
        {{ raw_column(cols, 'phone', 'varchar') }} as phone,
        {{ raw_column(cols, 'billing_street', 'varchar') }} as billing_street,
        {{ raw_column(cols, 'billing_city', 'varchar') }} as billing_city,
        {{ raw_column(cols, 'billing_postal_code', 'varchar') }} as billing_postal_code,
        {{ raw_column(cols, 'billing_country', 'varchar') }} as billing_country_code,
        {{ raw_column(cols, 'tax_id__c', 'varchar') }} as tax_id,
        {{ raw_column(cols, 'currency_iso_code', 'varchar') }} as currency_code,
        {{ raw_column(cols, 'number_of_employees', 'bigint') }} as employee_count,
        {{ to_utc(raw_column(cols, 'created_date', 'timestamp')) }} as created_at,
        {{ to_utc(raw_column(cols, 'last_modified_date', 'timestamp')) }} as last_modified_at,
        {{ to_utc(raw_column(cols, 'system_modstamp', 'timestamp')) }} as system_modstamp_at
    from source
    where not coalesce({{ raw_column(cols, 'is_deleted', 'boolean') }}, false)

)

select * from renamed
