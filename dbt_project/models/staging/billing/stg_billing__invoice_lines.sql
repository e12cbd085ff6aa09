{%- set cols = raw_columns(source('raw_billing', 'invoice_lines')) -%}
{#- a line is known with its invoice; the invoices are a parent only in a point-in-time build, so
    the golden unit tests on this model need no invoices input -#}
{%- set known_parent = source('raw_billing', 'invoices') if known_as_of() is not none else none -%}

with

source as (

    select * from {{ source('raw_billing', 'invoice_lines') }}
    where {{ point_in_time(cols, 'billing', parent=known_parent, parent_key='invoice') }}

),

renamed as (

    select
        id as invoice_line_id,
        {{ raw_column(cols, 'invoice', 'varchar') }} as invoice_id,
        {{ raw_column(cols, 'subscription', 'varchar') }} as subscription_id,
        {{ raw_column(cols, 'subscription_item', 'varchar') }} as subscription_item_id,
        {{ raw_column(cols, 'invoice_item', 'varchar') }} as invoice_item_id,
        {{ raw_column(cols, 'price__id', 'varchar') }} as price_id,
        {{ raw_column(cols, 'price__product', 'varchar') }} as product_id,
        {{ raw_column(cols, 'price__recurring__interval', 'varchar') }} as recurring_interval,
        {{ raw_column(cols, 'type', 'varchar') }} as line_type,
        {{ raw_column(cols, 'description', 'varchar') }} as description,
        upper({{ raw_column(cols, 'currency', 'varchar') }}) as currency_code,
        coalesce({{ raw_column(cols, 'proration', 'boolean') }}, false) as is_proration,
        {{ raw_column(cols, 'quantity', 'bigint') }} as quantity,
        {{ raw_column(cols, 'price__unit_amount', 'bigint') }} as unit_amount_minor,
        {{ raw_column(cols, 'amount', 'bigint') }} as amount_minor,
        {{ to_major_units(raw_column(cols, 'amount', 'bigint'), raw_column(cols, 'currency', 'varchar')) }} as amount,
        -- the line before tax (Stripe's amount includes an inclusive tax) and its discounts: every
        -- coupon's share on the line, line- or invoice-level (`discount_amounts[].amount`)
        {{ to_major_units('coalesce(' ~ raw_column(cols, 'amount_excluding_tax', 'bigint') ~ ', ' ~ raw_column(cols, 'amount', 'bigint') ~ ')', raw_column(cols, 'currency', 'varchar')) }} as amount_excluding_tax,
        {{ to_major_units(json_array_sum(raw_column(cols, 'discount_amounts', 'varchar'), 'amount'), raw_column(cols, 'currency', 'varchar')) }} as discount_amount,
        {{ epoch_to_timestamp(raw_column(cols, 'period__start', 'bigint')) }} as period_start_at,
        {{ epoch_to_timestamp(raw_column(cols, 'period__end', 'bigint')) }} as period_end_at
    from source

)

select * from renamed
