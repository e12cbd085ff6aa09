{%- set cols = raw_columns(source('raw_erp', 'item')) -%}

with

source as (

    select * from {{ source('raw_erp', 'item') }}
    where {{ point_in_time(cols, 'erp') }}

),

renamed as (

    select
        id as item_id,
        {{ raw_column(cols, 'externalid', 'varchar') }} as external_id,
        {{ raw_column(cols, 'itemid', 'varchar') }} as item_code,
        {{ raw_column(cols, 'displayname', 'varchar') }} as item_name,
        {{ raw_column(cols, 'itemtype', 'varchar') }} as item_type,
        coalesce({{ raw_column(cols, 'isinactive', 'boolean') }}, false) as is_inactive,
        {{ to_utc(raw_column(cols, 'lastmodifieddate', 'timestamp')) }} as last_modified_at
    from source

)

select * from renamed
