{%- set cols = raw_columns(source('raw_erp', 'currency')) -%}

with

source as (

    select * from {{ source('raw_erp', 'currency') }}
    where {{ point_in_time(cols, 'erp') }}

),

renamed as (

    select
        id as currency_id,
        {{ raw_column(cols, 'symbol', 'varchar') }} as currency_code,
        {{ raw_column(cols, 'name', 'varchar') }} as currency_name,
        {{ raw_column(cols, 'currencyprecision', 'bigint') }} as currency_precision,
        coalesce({{ raw_column(cols, 'isbasecurrency', 'boolean') }}, false) as is_base_currency,
        {{ to_utc(raw_column(cols, 'lastmodifieddate', 'timestamp')) }} as last_modified_at
    from source

)

select * from renamed
