{%- set cols = raw_columns(source('raw_erp', 'currencyrate')) -%}

with

source as (

    select * from {{ source('raw_erp', 'currencyrate') }}
    where {{ point_in_time(cols, 'erp') }}

),

renamed as (

    select
        id as currency_rate_id,
        {{ raw_column(cols, 'basecurrency', 'bigint') }} as base_currency_id,
        {{ raw_column(cols, 'transactioncurrency', 'bigint') }} as transaction_currency_id,
        cast({{ raw_column(cols, 'exchangerate', 'decimal(38, 9)') }} as decimal(38, 9)) as exchange_rate,
        {{ raw_column(cols, 'effectivedate', 'date') }} as effective_date,
        {{ to_utc(raw_column(cols, 'lastmodifieddate', 'timestamp')) }} as last_modified_at
    from source

)

select * from renamed
