{%- set cols = raw_columns(source('raw_erp', 'subsidiary')) -%}

with

source as (

    select * from {{ source('raw_erp', 'subsidiary') }}
    where {{ point_in_time(cols, 'erp') }}

),

renamed as (

    select
        id as subsidiary_id,
        {{ raw_column(cols, 'parent', 'bigint') }} as parent_subsidiary_id,
        {{ raw_column(cols, 'currency', 'bigint') }} as currency_id,
        {{ raw_column(cols, 'name', 'varchar') }} as subsidiary_name,
        {{ raw_column(cols, 'fullname', 'varchar') }} as subsidiary_full_name,
        {{ raw_column(cols, 'country', 'varchar') }} as country_code,
        coalesce({{ raw_column(cols, 'iselimination', 'boolean') }}, false) as is_elimination,
        coalesce({{ raw_column(cols, 'isinactive', 'boolean') }}, false) as is_inactive,
        {{ to_utc(raw_column(cols, 'lastmodifieddate', 'timestamp')) }} as last_modified_at
    from source

)

select * from renamed
