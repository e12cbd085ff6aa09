{%- set cols = raw_columns(source('raw_billing', 'subscription_items')) -%}

with

source as (

    select * from {{ source('raw_billing', 'subscription_items') }}
    where {{ point_in_time(cols, 'billing') }}

),

renamed as (

    select
        id as subscription_item_id,
        {{ raw_column(cols, 'subscription', 'varchar') }} as subscription_id,
        {{ raw_column(cols, 'price__id', 'varchar') }} as price_id,
        {{ raw_column(cols, 'price__product', 'varchar') }} as product_id,
        upper({{ raw_column(cols, 'price__currency', 'varchar') }}) as currency_code,
        {{ raw_column(cols, 'price__recurring__interval', 'varchar') }} as recurring_interval,
        {{ raw_column(cols, 'price__unit_amount', 'bigint') }} as unit_amount_minor,
        {{ to_major_units(raw_column(cols, 'price__unit_amount', 'bigint'), raw_column(cols, 'price__currency', 'varchar')) }} as unit_amount,
        {{ raw_column(cols, 'quantity', 'bigint') }} as quantity,
        {{ epoch_to_timestamp(raw_column(cols, 'created', 'bigint')) }} as created_at
    from source

)

select * from renamed
