{%- set cols = raw_columns(source('raw_billing', 'credit_notes')) -%}

with

source as (

    select * from {{ source('raw_billing', 'credit_notes') }}
    where {{ point_in_time(cols, 'billing') }}

),

renamed as (

    select
        id as credit_note_id,
        {{ raw_column(cols, 'invoice', 'varchar') }} as invoice_id,
        {{ raw_column(cols, 'customer', 'varchar') }} as customer_id,
        {{ raw_column(cols, 'number', 'varchar') }} as credit_note_number,
        {{ raw_column(cols, 'status', 'varchar') }} as credit_note_status,
        {{ raw_column(cols, 'type', 'varchar') }} as credit_note_type,
        {{ raw_column(cols, 'reason', 'varchar') }} as reason,
        {{ raw_column(cols, 'memo', 'varchar') }} as memo,
        upper({{ raw_column(cols, 'currency', 'varchar') }}) as currency_code,
        {{ to_major_units(raw_column(cols, 'subtotal', 'bigint'), raw_column(cols, 'currency', 'varchar')) }} as subtotal,
        {{ to_major_units(raw_column(cols, 'total', 'bigint'), raw_column(cols, 'currency', 'varchar')) }} as total,
        {{ to_major_units('coalesce(' ~ raw_column(cols, 'total_excluding_tax', 'bigint') ~ ', ' ~ raw_column(cols, 'total', 'bigint') ~ ')', raw_column(cols, 'currency', 'varchar')) }} as total_excluding_tax,
        {{ to_major_units('coalesce(' ~ raw_column(cols, 'out_of_band_amount', 'bigint') ~ ', 0)', raw_column(cols, 'currency', 'varchar')) }} as out_of_band_amount,
        {{ epoch_to_timestamp(raw_column(cols, 'created', 'bigint')) }} as created_at,
        {{ epoch_to_timestamp(raw_column(cols, 'effective_at', 'bigint')) }} as effective_at
    from source

)

select * from renamed
