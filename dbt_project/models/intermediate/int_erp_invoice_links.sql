{%- set staged = {
    'externalid': 'external_id',
    'otherrefnum': 'other_ref_number',
    'memo': 'memo',
    'tranid': 'transaction_number',
} -%}
{%- set id_pattern = "'" ~ var('stripe_invoice_id_pattern') ~ "'" -%}
{%- set number_pattern = "'" ~ var('stripe_invoice_number_pattern') ~ "'" -%}
-- Which Stripe invoice each ERP invoice (CustInvc) posts: the first field of the
-- `erp_invoice_reference_fields` var (default externalid, otherrefnum, memo) that names one, by
-- its id (in_...) or its number (ABCD1234-0001), even inside a sentence (the
-- `stripe_invoice_id_pattern` and `stripe_invoice_number_pattern` vars). A Stripe invoice's
-- primary posting is the one tied by the earliest field, then the oldest; NetSuite refuses a
-- second record with the same externalId, so a duplicate posted by a retry is found here
-- through the other fields.
with

transactions as (

    select * from {{ ref('stg_erp__transactions') }}
    where transaction_type = 'CustInvc'

),

invoices as (

    select
        invoice_id,
        invoice_number
    from {{ ref('stg_billing__invoices') }}

),

referenced as (

    {%- for field in var('erp_invoice_reference_fields') %}
        select
            transaction_id,
            '{{ field }}' as link_field,
            {{ loop.index }} as field_rank,
            cast({{ staged[field] }} as varchar) as link_value,
            {{ regexp_first('cast(' ~ staged[field] ~ ' as varchar)', id_pattern) }} as invoice_id_ref,
            {{ regexp_first('cast(' ~ staged[field] ~ ' as varchar)', number_pattern) }} as invoice_number_ref
        from transactions
        where {{ staged[field] }} is not null
        {%- if not loop.last %}
            union all
        {%- endif %}
    {%- endfor %}

),

resolved as (

    select
        referenced.transaction_id,
        referenced.link_field,
        referenced.field_rank,
        referenced.link_value,
        coalesce(by_id.invoice_id, by_number.invoice_id) as billing_invoice_id,
        case when by_id.invoice_id is not null then 'id' else 'number' end as reference_kind
    from referenced
    left join invoices as by_id on referenced.invoice_id_ref = by_id.invoice_id
    left join invoices as by_number on referenced.invoice_number_ref = by_number.invoice_number
    where coalesce(by_id.invoice_id, by_number.invoice_id) is not null
    qualify row_number() over (
        partition by referenced.transaction_id order by referenced.field_rank
    ) = 1

),

final as (

    select
        transaction_id,
        billing_invoice_id,
        link_field,
        link_value,
        case
            when link_field = 'externalid' and reference_kind = 'id' then 'externalid'
            else link_field || '_' || reference_kind
        end as billing_match_method,
        row_number() over (
            partition by billing_invoice_id order by field_rank, transaction_id
        ) = 1 as is_primary_posting
    from resolved

)

select * from final
