{%- set cols = raw_columns(source('raw_crm', 'product2')) -%}

with

source as (

    select * from {{ source('raw_crm', 'product2') }}
    where {{ point_in_time(cols, 'crm') }}

),

renamed as (

    select
        {{ raw_column(cols, 'id', 'varchar') }} as product_id,
        {{ raw_column(cols, 'product_code', 'varchar') }} as product_code,
        {{ raw_column(cols, 'name', 'varchar') }} as product_name,
        {{ raw_column(cols, 'family', 'varchar') }} as product_family,
        {{ raw_column(cols, 'description', 'varchar') }} as description,
        {{ raw_column(cols, 'is_active', 'boolean') }} as is_active,
        {{ to_utc(raw_column(cols, 'created_date', 'timestamp')) }} as created_at,
        {{ to_utc(raw_column(cols, 'system_modstamp', 'timestamp')) }} as system_modstamp_at
    from source
    where not coalesce({{ raw_column(cols, 'is_deleted', 'boolean') }}, false)

)

select * from renamed
