{%- set cols = raw_columns(source('raw_crm', 'contact')) -%}

with

source as (

    select * from {{ source('raw_crm', 'contact') }}
    where {{ point_in_time(cols, 'crm') }}

),

renamed as (

    select
        {{ raw_column(cols, 'id', 'varchar') }} as contact_id,
        {{ raw_column(cols, 'account_id', 'varchar') }} as account_id,
        {{ raw_column(cols, 'first_name', 'varchar') }} as first_name,
        {{ raw_column(cols, 'last_name', 'varchar') }} as last_name,
        {{ raw_column(cols, 'name', 'varchar') }} as contact_name,
        {{ raw_column(cols, 'email', 'varchar') }} as email,
        {{ raw_column(cols, 'title', 'varchar') }} as title,
        {{ raw_column(cols, 'phone', 'varchar') }} as phone,
        {{ to_utc(raw_column(cols, 'created_date', 'timestamp')) }} as created_at,
        {{ to_utc(raw_column(cols, 'system_modstamp', 'timestamp')) }} as system_modstamp_at
    from source
    where not coalesce({{ raw_column(cols, 'is_deleted', 'boolean') }}, false)

)

select * from renamed
