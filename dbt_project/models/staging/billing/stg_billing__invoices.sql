{%- set cols = raw_columns(source('raw_billing', 'invoices')) -%}

with

source as (

    select * from {{ source('raw_billing', 'invoices') }}
    where {{ point_in_time(cols, 'billing') }}

),

renamed as (

    select
        id as invoice_id,
        {{ raw_column(cols, 'customer', 'varchar') }} as customer_id,
        {{ raw_column(cols, 'subscription', 'varchar') }} as subscription_id,
        {{ raw_column(cols, 'charge', 'varchar') }} as charge_id,
        {{ raw_column(cols, 'payment_intent', 'varchar') }} as payment_intent_id,
        {{ raw_column(cols, 'number', 'varchar') }} as invoice_number,
        {{ raw_column(cols, 'status', 'varchar') }} as invoice_status,
        {{ raw_column(cols, 'billing_reason', 'varchar') }} as billing_reason,
        {{ raw_column(cols, 'collection_method', 'varchar') }} as collection_method,
        upper({{ raw_column(cols, 'currency', 'varchar') }}) as currency_code,
        coalesce({{ raw_column(cols, 'paid', 'boolean') }}, false) as is_paid,
        coalesce({{ raw_column(cols, 'paid_out_of_band', 'boolean') }}, false) as is_paid_out_of_band,
        {{ raw_column(cols, 'total', 'bigint') }} as total_minor,
        {{ to_major_units(raw_column(cols, 'subtotal', 'bigint'), raw_column(cols, 'currency', 'varchar')) }} as subtotal,
        {{ to_major_units(raw_column(cols, 'total', 'bigint'), raw_column(cols, 'currency', 'varchar')) }} as total,
        {{ to_major_units(raw_column(cols, 'amount_due', 'bigint'), raw_column(cols, 'currency', 'varchar')) }} as amount_due,
        {{ to_major_units(raw_column(cols, 'amount_paid', 'bigint'), raw_column(cols, 'currency', 'varchar')) }} as amount_paid,
        {{ to_major_units(raw_column(cols, 'amount_remaining', 'bigint'), raw_column(cols, 'currency', 'varchar')) }} as amount_remaining,
        {{ to_major_units('coalesce(' ~ raw_column(cols, 'post_payment_credit_notes_amount', 'bigint') ~ ', 0)', raw_column(cols, 'currency', 'varchar')) }} as post_payment_credit_notes_amount,
        {{ raw_column(cols, 'attempt_count', 'bigint') }} as attempt_count,
        {{ epoch_to_timestamp(raw_column(cols, 'created', 'bigint')) }} as created_at,
        {{ epoch_to_timestamp(raw_column(cols, 'period_start', 'bigint')) }} as period_start_at,
        {{ epoch_to_timestamp(raw_column(cols, 'period_end', 'bigint')) }} as period_end_at,
        {{ epoch_to_timestamp(raw_column(cols, 'due_date', 'bigint')) }} as due_at,
        {{ epoch_to_timestamp(raw_column(cols, 'status_transitions__finalized_at', 'bigint')) }} as finalized_at,
        {{ epoch_to_timestamp(raw_column(cols, 'status_transitions__paid_at', 'bigint')) }} as paid_at,
        {{ epoch_to_timestamp(raw_column(cols, 'status_transitions__voided_at', 'bigint')) }} as voided_at,
        {{ epoch_to_timestamp(raw_column(cols, 'status_transitions__marked_uncollectible_at', 'bigint')) }} as marked_uncollectible_at
    from source

)

select * from renamed
