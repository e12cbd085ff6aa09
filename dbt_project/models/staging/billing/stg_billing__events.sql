{%- set cols = raw_columns(source('raw_billing', 'events')) -%}

with

source as (

    select * from {{ source('raw_billing', 'events') }}
    where {{ point_in_time(cols, 'billing') }}

),

renamed as (

    select
        id as event_id,
        {{ raw_column(cols, 'type', 'varchar') }} as event_type,
        {{ raw_column(cols, 'api_version', 'varchar') }} as api_version,
        {{ json_text(raw_column(cols, 'data', 'varchar'), 'object.id') }} as object_id,
        {{ json_text(raw_column(cols, 'data', 'varchar'), 'object.object') }} as object_type,
        {{ raw_column(cols, 'data', 'varchar') }} as event_data,
        {{ epoch_to_timestamp(raw_column(cols, 'created', 'bigint')) }} as created_at
    from source

)

select * from renamed
