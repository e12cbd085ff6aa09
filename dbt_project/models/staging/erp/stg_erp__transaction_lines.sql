{%- set cols = raw_columns(source('raw_erp', 'transactionline')) -%}

with

source as (

    select * from {{ source('raw_erp', 'transactionline') }}
    where {{ point_in_time(cols, 'erp') }}

),

renamed as (

    select
        uniquekey as transaction_line_key,
        {{ raw_column(cols, 'transaction', 'bigint') }} as transaction_id,
        {{ raw_column(cols, 'id', 'bigint') }} as line_id,
        {{ raw_column(cols, 'linesequencenumber', 'bigint') }} as line_sequence_number,
        {{ raw_column(cols, 'item', 'bigint') }} as item_id,
        {{ raw_column(cols, 'entity', 'bigint') }} as erp_customer_id,
        {{ raw_column(cols, 'subsidiary', 'bigint') }} as subsidiary_id,
        {{ raw_column(cols, 'memo', 'varchar') }} as memo,
        coalesce({{ raw_column(cols, 'mainline', 'boolean') }}, false) as is_main_line,
        coalesce({{ raw_column(cols, 'taxline', 'boolean') }}, false) as is_tax_line,
        cast({{ raw_column(cols, 'quantity', 'decimal(38, 9)') }} as decimal(18, 2)) as quantity,
        cast({{ raw_column(cols, 'rate', 'decimal(38, 9)') }} as decimal(38, 3)) as rate,
        cast({{ raw_column(cols, 'foreignamount', 'decimal(38, 9)') }} as decimal(38, 3)) as foreign_amount,
        cast({{ raw_column(cols, 'netamount', 'decimal(38, 9)') }} as decimal(38, 3)) as net_amount,
        {{ raw_column(cols, 'custcol_cl_service_start', 'date') }} as service_start_date,
        {{ raw_column(cols, 'custcol_cl_service_end', 'date') }} as service_end_date,
        {{ to_utc(raw_column(cols, 'linelastmodifieddate', 'timestamp')) }} as last_modified_at
    from source

)

select * from renamed
