{%- set cols = raw_columns(source('raw_billing', 'payment_intents')) -%}

with

source as (

    select * from {{ source('raw_billing', 'payment_intents') }}
    where {{ point_in_time(cols, 'billing') }}

),

renamed as (

    select
        id as payment_intent_id,
        {{ raw_column(cols, 'customer', 'varchar') }} as customer_id,
        {{ raw_column(cols, 'invoice', 'varchar') }} as invoice_id,
        {{ raw_column(cols, 'latest_charge', 'varchar') }} as latest_charge_id,
        {{ raw_column(cols, 'status', 'varchar') }} as payment_intent_status,
        upper({{ raw_column(cols, 'currency', 'varchar') }}) as currency_code,
        {{ to_major_units(raw_column(cols, 'amount', 'bigint'), raw_column(cols, 'currency', 'varchar')) }} as amount,
        {{ to_major_units(raw_column(cols, 'amount_received', 'bigint'), raw_column(cols, 'currency', 'varchar')) }} as amount_received,
        {{ epoch_to_timestamp(raw_column(cols, 'created', 'bigint')) }} as created_at,
        {{ epoch_to_timestamp(raw_column(cols, 'canceled_at', 'bigint')) }} as canceled_at
    from source

)

select * from renamed
