{%- set cols = raw_columns(source('raw_billing', 'prices')) -%}

with

source as (

    select * from {{ source('raw_billing', 'prices') }}
    where {{ point_in_time(cols, 'billing') }}

),

renamed as (

    select
        id as price_id,
        {{ raw_column(cols, 'product', 'varchar') }} as product_id,
        upper({{ raw_column(cols, 'currency', 'varchar') }}) as currency_code,
        {{ raw_column(cols, 'type', 'varchar') }} as price_type,
        {{ raw_column(cols, 'recurring__interval', 'varchar') }} as recurring_interval,
        {{ raw_column(cols, 'recurring__interval_count', 'bigint') }} as recurring_interval_count,
        {{ raw_column(cols, 'recurring__usage_type', 'varchar') }} as recurring_usage_type,
        {{ raw_column(cols, 'unit_amount', 'bigint') }} as unit_amount_minor,
        {{ to_major_units(raw_column(cols, 'unit_amount', 'bigint'), raw_column(cols, 'currency', 'varchar')) }} as unit_amount,
        {{ raw_column(cols, 'active', 'boolean') }} as is_active,
        {{ epoch_to_timestamp(raw_column(cols, 'created', 'bigint')) }} as created_at
    from source

)

select * from renamed
