{%- set staged = {'externalid': 'external_id', 'otherrefnum': 'other_ref_number', 'memo': 'memo'} -%}
-- ERP cash and credit documents (customer payments `CustPymt`, credit memos `CustCred`,
-- customer refunds `CustRfnd`) with the Stripe record each posts: the first of externalid,
-- otherrefnum and memo that names a Stripe id (refund re_, credit note cn_, charge ch_ or its
-- payment intent pi_: Stripe's documented id prefixes), a payment intent resolved to its
-- charge. NetSuite refuses a second record with the same externalId, so a document posted
-- twice by a retrying integration is found through the other fields: per Stripe record and
-- document type the primary posting is the one tied by the earliest field, then the oldest.
-- Documents closeloop's write-back proposes as adjustments (externalid `adj-...`) and voided
-- ones post nothing.
with

transactions as (

    select * from {{ ref('stg_erp__transactions') }}
    where
        transaction_type in ('CustPymt', 'CustCred', 'CustRfnd')
        and not is_voided
        and coalesce(external_id, '') not like 'adj-%'

),

currencies as (

    select * from {{ ref('stg_erp__currencies') }}

),

charges as (

    select * from {{ ref('stg_billing__charges') }}

),

referenced as (

    {%- for field, column in staged.items() %}
        select
            transaction_id,
            '{{ field }}' as link_field,
            {{ loop.index }} as field_rank,
            cast({{ column }} as varchar) as link_value,
            {{ regexp_first('cast(' ~ column ~ ' as varchar)', "'(re|cn|ch|pi)_[A-Za-z0-9]+'") }}
                as stripe_id
        from transactions
        where {{ column }} is not null
        {%- if not loop.last %}
            union all
        {%- endif %}
    {%- endfor %}

),

resolved as (

    select
        transaction_id,
        link_field,
        field_rank,
        link_value,
        stripe_id
    from referenced
    where stripe_id is not null
    qualify row_number() over (partition by transaction_id order by field_rank) = 1

),

by_intent as (

    select
        payment_intent_id,
        min(charge_id) as charge_id
    from charges
    where charge_status = 'succeeded' and payment_intent_id is not null
    group by 1

),

posted as (

    select
        transactions.transaction_id,
        transactions.transaction_type,
        transactions.erp_customer_id,
        transactions.external_id,
        currencies.currency_code,
        transactions.foreign_total,
        transactions.transaction_date,
        transactions.created_at,
        -- the Stripe record posted: a payment intent stands for its succeeded charge
        case
            when substr(resolved.stripe_id, 1, 3) = 'pi_'
                then coalesce(by_intent.charge_id, resolved.stripe_id)
            else resolved.stripe_id
        end as billing_id,
        resolved.link_field as billing_link_field,
        resolved.link_value as billing_link_value,
        resolved.field_rank as billing_link_rank
    from transactions
    inner join currencies on transactions.currency_id = currencies.currency_id
    left join resolved on transactions.transaction_id = resolved.transaction_id
    left join by_intent on resolved.stripe_id = by_intent.payment_intent_id

),

final as (

    select
        transaction_id,
        transaction_type,
        erp_customer_id,
        external_id,
        currency_code,
        foreign_total,
        transaction_date,
        created_at,
        billing_id,
        billing_link_field,
        billing_link_value,
        coalesce(
            billing_id is not null
            and row_number() over (
                partition by billing_id, transaction_type
                order by billing_link_rank, transaction_id
            ) = 1,
            false
        ) as is_primary_posting
    from posted

)

select * from final
