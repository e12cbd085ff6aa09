{%- set items = writeback_ledger_relation('items') -%}
-- The adjusting documents write-back posted in an open period for a correction a closed period
-- refused (reverse_etl's plan: `<correction_id>:adjust`, approved by a person), that the ERP
-- now holds: each is recognised by the external id it was posted under (`adj-...`, `cl-cm-...`,
-- or the missing document's own id; its memo names the correction too), and resolves its
-- exception. recon_exceptions and recon_in_transit leave out the exception it resolves, and
-- what recon would otherwise say about the adjusting document itself (a second invoice
-- referencing the same Stripe invoice is the adjustment, not a duplicate). docs/exceptions.md.
with

adjusting as (

    {% if items is not none %}
        select
            cast(correction_id as varchar) as correction_id,
            cast(parent_id as varchar) as parent_correction_id,
            cast(exception_id as varchar) as exception_id,
            cast(exception_type as varchar) as exception_type,
            cast(record_type as varchar) as record_type,
            cast(action as varchar) as action,
            cast(external_id as varchar) as external_id,
            cast(status as varchar) as correction_status,
            cast(approved_by as varchar) as approved_by,
            cast(applied_at as timestamp) as applied_at
        from {{ items }}
        -- written: applied, verified, or escalated by a verify that did not count it yet
        where
            parent_id is not null and status in ('applied', 'verified', 'escalated')
            {%- if known_as_of() is not none %}
                and applied_at <= {{ known_as_of_timestamp() }}
            {%- endif %}
    {% else %}
        select
            cast(null as varchar) as correction_id,
            cast(null as varchar) as parent_correction_id,
            cast(null as varchar) as exception_id,
            cast(null as varchar) as exception_type,
            cast(null as varchar) as record_type,
            cast(null as varchar) as action,
            cast(null as varchar) as external_id,
            cast(null as varchar) as correction_status,
            cast(null as varchar) as approved_by,
            cast(null as timestamp) as applied_at
        where 1 = 0
    {% endif %}

),

transactions as (

    select * from {{ ref('stg_erp__transactions') }}

),

landed as (

    select
        adjusting.*,
        transactions.transaction_id,
        transactions.transaction_type,
        transactions.transaction_number,
        transactions.memo,
        transactions.foreign_total,
        transactions.transaction_date
    from adjusting
    inner join transactions on adjusting.external_id = transactions.external_id
    qualify row_number() over (
        partition by adjusting.correction_id order by transactions.transaction_id
    ) = 1

),

final as (

    select
        -- ids
        cast(correction_id as varchar) as correction_id,
        cast(parent_correction_id as varchar) as parent_correction_id,
        cast(exception_id as varchar) as exception_id,
        cast(transaction_id as varchar) as erp_id,
        cast(external_id as varchar) as external_id,
        -- strings
        cast(exception_type as varchar) as exception_type,
        cast(transaction_type as varchar) as transaction_type,
        cast(transaction_number as varchar) as transaction_number,
        cast(memo as varchar) as memo,
        cast(correction_status as varchar) as correction_status,
        cast(approved_by as varchar) as approved_by,
        -- numerics
        cast(foreign_total as decimal(38, 3)) as amount,
        -- booleans
        -- a document beside the one in error (credit memo, invoice or payment for the difference,
        -- the credit memo closing a duplicate), not the missing document itself posted late
        exception_type not like '%missing_in_erp' as is_additional_document,
        -- timestamps
        cast(transaction_date as date) as transaction_date,
        cast(applied_at as timestamp) as applied_at
    from landed

)

select * from final
