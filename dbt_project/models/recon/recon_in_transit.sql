-- One row per discrepancy still inside its type's settlement window at the recon as-of instant
-- (var `settlement_window_hours`, docs/exceptions.md "Timing"): timing, not error. It is not in
-- recon_exceptions, so write-back (erp_corrections) never acts on it; once its window ends and
-- the mirror still disagrees it becomes an exception under the same `exception_id`.
-- Cut-off: an item dated before a month end whose window ends after it is in transit at that
-- month end (`crosses_period_end`), when the recon runs as of that instant.
with

discrepancies as (

    select * from {{ ref('int_recon_discrepancies') }}

),

-- adjusting documents write-back posted and the ERP holds: each resolves its exception, and
-- is not itself a discrepancy (recon_adjustments)
adjustments as (

    select * from {{ ref('recon_adjustments') }}

),

final as (

    select
        -- ids
        exception_id,
        exception_type,
        crm_id,
        billing_id,
        erp_id,
        -- strings
        field_name,
        correct_value,
        wrong_value,
        currency_code,
        owner_system,
        mirror_system,
        -- numerics
        amount_delta,
        amount_delta_usd,
        window_hours,
        -- booleans
        settles_by_at > period_end_at as crosses_period_end,
        -- timestamps
        detected_at as entered_at,
        settles_by_at,
        period_end_at,
        as_of_at
    from discrepancies
    where
        is_in_transit
        and exception_id not in (select a.exception_id from adjustments as a)
        and coalesce(erp_id, '') not in (
            select a.erp_id from adjustments as a
            where a.is_additional_document
        )

)

select * from final
