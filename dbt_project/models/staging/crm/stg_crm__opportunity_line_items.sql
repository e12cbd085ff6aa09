{%- set cols = raw_columns(source('raw_crm', 'opportunity_line_item')) -%}

with

source as (

    select * from {{ source('raw_crm', 'opportunity_line_item') }}
    where {{ point_in_time(cols, 'crm') }}

),

renamed as (

    select
        {{ raw_column(cols, 'id', 'varchar') }} as opportunity_line_item_id,
        {{ raw_column(cols, 'opportunity_id', 'varchar') }} as opportunity_id,
        {{ raw_column(cols, 'product2_id', 'varchar') }} as product_id,
        {{ raw_column(cols, 'pricebook_entry_id', 'varchar') }} as pricebook_entry_id,
        {{ raw_column(cols, 'name', 'varchar') }} as line_name,
        {{ raw_column(cols, 'description', 'varchar') }} as description,
        cast({{ raw_column(cols, 'quantity', 'double') }} as decimal(18, 2)) as quantity,
        cast({{ raw_column(cols, 'unit_price', 'decimal(38, 9)') }} as decimal(38, 3)) as unit_price,
        cast({{ raw_column(cols, 'list_price', 'decimal(38, 9)') }} as decimal(38, 3)) as list_price,
        cast({{ raw_column(cols, 'total_price', 'decimal(38, 9)') }} as decimal(38, 3)) as total_price,
        {{ raw_column(cols, 'service_date', 'date') }} as service_date,
        {{ to_utc(raw_column(cols, 'created_date', 'timestamp')) }} as created_at,
        {{ to_utc(raw_column(cols, 'system_modstamp', 'timestamp')) }} as system_modstamp_at
    from source
    where not coalesce({{ raw_column(cols, 'is_deleted', 'boolean') }}, false)

)

select * from renamed
