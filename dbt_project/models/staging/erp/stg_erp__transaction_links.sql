{%- set cols = raw_columns(source('raw_erp', 'previoustransactionlink')) -%}

with

source as (

    select * from {{ source('raw_erp', 'previoustransactionlink') }}
    where {{ point_in_time(cols, 'erp') }}

),

renamed as (

    select
        previousdoc as previous_transaction_id,
        {{ raw_column(cols, 'nextdoc', 'bigint') }} as next_transaction_id,
        {{ raw_column(cols, 'linktype', 'varchar') }} as link_type,
        cast({{ raw_column(cols, 'foreignamount', 'decimal(38, 9)') }} as decimal(38, 3)) as foreign_amount,
        {{ to_utc(raw_column(cols, 'lastmodifieddate', 'timestamp')) }} as last_modified_at
    from source

)

select * from renamed
