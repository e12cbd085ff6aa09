{%- set cols = raw_columns(source('raw_billing', 'refunds')) -%}

with

source as (

    select * from {{ source('raw_billing', 'refunds') }}
    where {{ point_in_time(cols, 'billing') }}

),

renamed as (

    select
        id as refund_id,
        {{ raw_column(cols, 'charge', 'varchar') }} as charge_id,
        {{ raw_column(cols, 'payment_intent', 'varchar') }} as payment_intent_id,
        {{ raw_column(cols, 'status', 'varchar') }} as refund_status,
        {{ raw_column(cols, 'reason', 'varchar') }} as reason,
        upper({{ raw_column(cols, 'currency', 'varchar') }}) as currency_code,
        {{ to_major_units(raw_column(cols, 'amount', 'bigint'), raw_column(cols, 'currency', 'varchar')) }} as amount,
        {{ epoch_to_timestamp(raw_column(cols, 'created', 'bigint')) }} as created_at
    from source

)

select * from renamed
