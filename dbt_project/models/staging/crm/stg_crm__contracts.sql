{%- set cols = raw_columns(source('raw_crm', 'contract')) -%}

with

source as (

    select * from {{ source('raw_crm', 'contract') }}
    where {{ point_in_time(cols, 'crm') }}

),

renamed as (

    select
        {{ raw_column(cols, 'id', 'varchar') }} as contract_id,
        {{ raw_column(cols, 'account_id', 'varchar') }} as account_id,
        {{ raw_column(cols, 'contract_number', 'varchar') }} as contract_number,
        {{ raw_column(cols, 'status', 'varchar') }} as contract_status,
        {{ raw_column(cols, 'billing_frequency__c', 'varchar') }} as billing_frequency,
        {{ raw_column(cols, 'currency_iso_code', 'varchar') }} as currency_code,
        {{ raw_column(cols, 'contract_term', 'bigint') }} as contract_term_months,
        {{ raw_column(cols, 'start_date', 'date') }} as start_date,
        {{ raw_column(cols, 'end_date', 'date') }} as end_date,
        {{ to_utc(raw_column(cols, 'activated_date', 'timestamp')) }} as activated_at,
        {{ to_utc(raw_column(cols, 'created_date', 'timestamp')) }} as created_at,
        {{ to_utc(raw_column(cols, 'last_modified_date', 'timestamp')) }} as last_modified_at,
        {{ to_utc(raw_column(cols, 'system_modstamp', 'timestamp')) }} as system_modstamp_at
    from source
    where not coalesce({{ raw_column(cols, 'is_deleted', 'boolean') }}, false)

)

select * from renamed
