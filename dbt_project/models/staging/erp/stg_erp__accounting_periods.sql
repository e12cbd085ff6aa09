{%- set cols = raw_columns(source('raw_erp', 'accountingperiod')) -%}

with

source as (

    select * from {{ source('raw_erp', 'accountingperiod') }}
    where {{ point_in_time(cols, 'erp') }}

),

renamed as (

    select
        id as accounting_period_id,
        {{ raw_column(cols, 'periodname', 'varchar') }} as period_name,
        {{ raw_column(cols, 'startdate', 'date') }} as start_date,
        {{ raw_column(cols, 'enddate', 'date') }} as end_date,
        coalesce({{ raw_column(cols, 'isquarter', 'boolean') }}, false) as is_quarter,
        coalesce({{ raw_column(cols, 'isyear', 'boolean') }}, false) as is_year,
        coalesce({{ raw_column(cols, 'isadjust', 'boolean') }}, false) as is_adjustment,
        coalesce({{ raw_column(cols, 'isposting', 'boolean') }}, false) as is_posting,
        coalesce({{ raw_column(cols, 'closed', 'boolean') }}, false) as is_closed,
        coalesce({{ raw_column(cols, 'arlocked', 'boolean') }}, false) as is_ar_locked,
        {{ to_utc(raw_column(cols, 'lastmodifieddate', 'timestamp')) }} as last_modified_at
    from source

)

select * from renamed
