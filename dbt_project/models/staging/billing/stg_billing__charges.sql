{%- set cols = raw_columns(source('raw_billing', 'charges')) -%}

with

source as (

    select * from {{ source('raw_billing', 'charges') }}
    where {{ point_in_time(cols, 'billing') }}

),

renamed as (

    select
        id as charge_id,
        {{ raw_column(cols, 'customer', 'varchar') }} as customer_id,
        {{ raw_column(cols, 'invoice', 'varchar') }} as invoice_id,
        {{ raw_column(cols, 'payment_intent', 'varchar') }} as payment_intent_id,
        {{ raw_column(cols, 'status', 'varchar') }} as charge_status,
        {{ raw_column(cols, 'failure_code', 'varchar') }} as failure_code,
        {{ raw_column(cols, 'failure_message', 'varchar') }} as failure_message,
        upper({{ raw_column(cols, 'currency', 'varchar') }}) as currency_code,
        coalesce({{ raw_column(cols, 'paid', 'boolean') }}, false) as is_paid,
        coalesce({{ raw_column(cols, 'refunded', 'boolean') }}, false) as is_refunded,
        coalesce({{ raw_column(cols, 'captured', 'boolean') }}, false) as is_captured,
        {{ raw_column(cols, 'amount', 'bigint') }} as amount_minor,
        {{ to_major_units(raw_column(cols, 'amount', 'bigint'), raw_column(cols, 'currency', 'varchar')) }} as amount,
        {{ to_major_units(raw_column(cols, 'amount_captured', 'bigint'), raw_column(cols, 'currency', 'varchar')) }} as amount_captured,
        {{ to_major_units(raw_column(cols, 'amount_refunded', 'bigint'), raw_column(cols, 'currency', 'varchar')) }} as amount_refunded,
        {{ epoch_to_timestamp(raw_column(cols, 'created', 'bigint')) }} as created_at
    from source

)

select * from renamed
