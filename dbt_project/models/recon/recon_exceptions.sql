-- One row per open discrepancy between the three systems, past its settlement window (items
-- still inside it are in transit: recon_in_transit). `exception_id` hashes what the
-- discrepancy is about (type, the ids in each system, the field), so it is stable across runs
-- and disappears once the systems agree again, or once an adjusting document write-back posted
-- for it is in the ERP (recon_adjustments).
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
        severity,
        field_name,
        correct_value,
        wrong_value,
        currency_code,
        owner_system,
        mirror_system,
        correction_action,
        -- numerics
        amount_delta,
        amount_delta_usd,
        age_days,
        -- booleans
        requires_approval,
        -- timestamps
        detected_at,
        as_of_at
    from discrepancies
    where
        not is_in_transit
        and exception_id not in (select a.exception_id from adjustments as a)
        and coalesce(erp_id, '') not in (
            select a.erp_id from adjustments as a
            where a.is_additional_document
        )

)

select * from final
