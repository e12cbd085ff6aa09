{%- set cols = raw_columns(source('raw_crm', 'opportunity')) -%}

with

source as (

    select * from {{ source('raw_crm', 'opportunity') }}
    where {{ point_in_time(cols, 'crm') }}

),

renamed as (

    select
        {{ raw_column(cols, 'id', 'varchar') }} as opportunity_id,
        {{ raw_column(cols, 'account_id', 'varchar') }} as account_id,
        {{ raw_column(cols, 'contract_id', 'varchar') }} as contract_id,
        {{ raw_column(cols, 'name', 'varchar') }} as opportunity_name,
        {{ raw_column(cols, 'stage_name', 'varchar') }} as stage_name,
        {{ raw_column(cols, 'type', 'varchar') }} as opportunity_type,
        {{ raw_column(cols, 'currency_iso_code', 'varchar') }} as currency_code,
        cast({{ raw_column(cols, 'amount', 'decimal(38, 9)') }} as decimal(38, 3)) as amount,
        {{ raw_column(cols, 'probability', 'double') }} as probability,
        {{ raw_column(cols, 'is_closed', 'boolean') }} as is_closed,
        {{ raw_column(cols, 'is_won', 'boolean') }} as is_won,
        {{ raw_column(cols, 'close_date', 'date') }} as close_date,
        {{ to_utc(raw_column(cols, 'created_date', 'timestamp')) }} as created_at,
        {{ to_utc(raw_column(cols, 'last_modified_date', 'timestamp')) }} as last_modified_at,
        {{ to_utc(raw_column(cols, 'system_modstamp', 'timestamp')) }} as system_modstamp_at
    from source
    where not coalesce({{ raw_column(cols, 'is_deleted', 'boolean') }}, false)

)

select * from renamed
