{%- set cols = raw_columns(source('raw_erp', 'transaction')) -%}

with

source as (

    select * from {{ source('raw_erp', 'transaction') }}
    where {{ point_in_time(cols, 'erp') }}

),

renamed as (

    select
        id as transaction_id,
        {{ raw_column(cols, 'externalid', 'varchar') }} as external_id,
        {{ raw_column(cols, 'otherrefnum', 'varchar') }} as other_ref_number,
        {{ raw_column(cols, 'entity', 'bigint') }} as erp_customer_id,
        {{ raw_column(cols, 'currency', 'bigint') }} as currency_id,
        {{ raw_column(cols, 'postingperiod', 'bigint') }} as posting_period_id,
        {{ raw_column(cols, 'tranid', 'varchar') }} as transaction_number,
        {{ raw_column(cols, 'type', 'varchar') }} as transaction_type,
        {{ raw_column(cols, 'status', 'varchar') }} as transaction_status,
        {{ raw_column(cols, 'memo', 'varchar') }} as memo,
        coalesce({{ raw_column(cols, 'voided', 'boolean') }}, false) as is_voided,
        cast({{ raw_column(cols, 'exchangerate', 'decimal(38, 9)') }} as decimal(38, 9)) as exchange_rate,
        cast({{ raw_column(cols, 'foreigntotal', 'decimal(38, 9)') }} as decimal(38, 3)) as foreign_total,
        cast({{ raw_column(cols, 'foreignamountunpaid', 'decimal(38, 9)') }} as decimal(38, 3)) as foreign_amount_unpaid,
        {{ raw_column(cols, 'trandate', 'date') }} as transaction_date,
        {{ raw_column(cols, 'duedate', 'date') }} as due_date,
        {{ to_utc(raw_column(cols, 'createddate', 'timestamp')) }} as created_at,
        {{ to_utc(raw_column(cols, 'lastmodifieddate', 'timestamp')) }} as last_modified_at
    from source

)

select * from renamed
