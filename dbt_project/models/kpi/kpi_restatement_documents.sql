-- The documents behind a restatement: for each closed month, every document its KPIs count now
-- that was not counted at the close (added), was counted and no longer is (removed), or whose
-- status or amount changed since (changed). docs/close.md.
with

closes as (

    select * from {{ ref('int_period_closes') }}
    where is_closed

),

frozen as (

    select frozen_documents.*
    from {{ ref('frozen_documents') }} as frozen_documents
    inner join closes on frozen_documents.close_id = closes.close_id

),

current_documents as (

    select documents.*
    from ({{ kpi_documents_sql() }}) as documents
    inner join closes on documents.month_start = closes.period_month

),

paired as (

    select
        coalesce(frozen.document_type, current_documents.document_type) as document_type,
        coalesce(frozen.document_id, current_documents.document_id) as document_id,
        coalesce(frozen.month_start, current_documents.month_start) as month_start,
        coalesce(frozen.currency_code, current_documents.currency_code) as currency_code,
        frozen.document_status as status_as_reported,
        current_documents.document_status as status_now,
        frozen.amount as amount_as_reported,
        current_documents.amount as amount_now,
        case
            when frozen.document_id is null then 'added'
            when current_documents.document_id is null then 'removed'
            when
                {{ values_differ('frozen.document_status', 'current_documents.document_status') }}
                or {{ values_differ('frozen.amount', 'current_documents.amount') }}
                then 'changed'
        end as change_type
    from frozen
    full outer join current_documents
        on
            frozen.document_type = current_documents.document_type
            and frozen.document_id = current_documents.document_id
            and frozen.month_start = current_documents.month_start

),

final as (

    select
        paired.month_start,
        closes.close_id,
        cast(paired.document_type as varchar) as document_type,
        cast(paired.document_id as varchar) as document_id,
        cast(paired.currency_code as varchar) as currency_code,
        cast(paired.change_type as varchar) as change_type,
        cast(paired.status_as_reported as varchar) as status_as_reported,
        cast(paired.status_now as varchar) as status_now,
        paired.amount_as_reported,
        paired.amount_now,
        cast(coalesce(paired.amount_now, 0) - coalesce(paired.amount_as_reported, 0) as decimal(38, 3))
            as amount_difference
    from paired
    inner join closes on paired.month_start = closes.period_month
    where paired.change_type is not null

)

select * from final
