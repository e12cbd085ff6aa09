{%- set cols = raw_columns(source('raw_billing', 'products')) -%}
{#- the product code: the metadata key the company uses (var product_code_metadata_key) -#}
{%- set key = var('product_code_metadata_key') -%}
{%- set code_column = raw_column(cols, 'metadata__' ~ key, 'varchar') if key else 'cast(null as varchar)' -%}

with

source as (

    select * from {{ source('raw_billing', 'products') }}
    where {{ point_in_time(cols, 'billing') }}

),

renamed as (

    select
        id as product_id,
        {{ code_column }} as product_code,
        {{ raw_column(cols, 'name', 'varchar') }} as product_name,
        {{ raw_column(cols, 'description', 'varchar') }} as description,
        {{ raw_column(cols, 'unit_label', 'varchar') }} as unit_label,
        {{ raw_column(cols, 'active', 'boolean') }} as is_active,
        {{ epoch_to_timestamp(raw_column(cols, 'created', 'bigint')) }} as created_at,
        {{ epoch_to_timestamp(raw_column(cols, 'updated', 'bigint')) }} as updated_at
    from source

)

select * from renamed
