-- One row per open discrepancy between the three systems, past its settlement window (items
-- still inside it are in transit: recon_in_transit). `exception_id` hashes what the
-- discrepancy is about (type, the ids in each system, the field), so it is stable across runs
-- and disappears once the systems agree again.
with

discrepancies as (

    select * from {{ ref('int_recon_discrepancies') }}

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
    where not is_in_transit

)

select * from final
