{%- set cols = raw_columns(source('raw_billing', 'subscriptions')) -%}
{%- set link = crm_link(cols, var('billing_subscription_crm_link'), '800') -%}

with

source as (

    select * from {{ source('raw_billing', 'subscriptions') }}
    where {{ point_in_time(cols, 'billing') }}

),

renamed as (

    select
        id as subscription_id,
        {{ raw_column(cols, 'customer', 'varchar') }} as customer_id,
        {{ link.value }} as crm_contract_id,
        {{ link.column }} as crm_contract_link_column,
        {{ raw_column(cols, 'latest_invoice', 'varchar') }} as latest_invoice_id,
        {{ raw_column(cols, 'status', 'varchar') }} as subscription_status,
        {{ raw_column(cols, 'collection_method', 'varchar') }} as collection_method,
        upper({{ raw_column(cols, 'currency', 'varchar') }}) as currency_code,
        {{ raw_column(cols, 'cancellation_details__reason', 'varchar') }} as cancellation_reason,
        coalesce({{ raw_column(cols, 'cancel_at_period_end', 'boolean') }}, false) as is_cancel_at_period_end,
        {{ raw_column(cols, 'days_until_due', 'bigint') }} as days_until_due,
        {{ epoch_to_timestamp(raw_column(cols, 'start_date', 'bigint')) }} as started_at,
        {{ epoch_to_timestamp(raw_column(cols, 'current_period_start', 'bigint')) }} as current_period_start_at,
        {{ epoch_to_timestamp(raw_column(cols, 'current_period_end', 'bigint')) }} as current_period_end_at,
        {{ epoch_to_timestamp(raw_column(cols, 'billing_cycle_anchor', 'bigint')) }} as billing_cycle_anchor_at,
        {{ epoch_to_timestamp(raw_column(cols, 'cancel_at', 'bigint')) }} as cancel_at,
        {{ epoch_to_timestamp(raw_column(cols, 'canceled_at', 'bigint')) }} as canceled_at,
        {{ epoch_to_timestamp(raw_column(cols, 'ended_at', 'bigint')) }} as ended_at,
        {{ epoch_to_timestamp(raw_column(cols, 'trial_start', 'bigint')) }} as trial_start_at,
        {{ epoch_to_timestamp(raw_column(cols, 'trial_end', 'bigint')) }} as trial_end_at,
        {{ epoch_to_timestamp(raw_column(cols, 'created', 'bigint')) }} as created_at
    from source

)

select * from renamed
