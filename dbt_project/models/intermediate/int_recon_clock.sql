{% set as_of = (
    "cast('" ~ var('recon_as_of') ~ "' as timestamp)" if var('recon_as_of')
    else 'cast(max(changed_at) as timestamp)'
) -%}

-- The as-of instant of the reconciliation: the `recon_as_of` var, else the newest change
-- landed from any source (the sandbox's clock, give or take minutes). Ages are measured from it.

with

changes as (

    select max(system_modstamp_at) as changed_at from {{ ref('stg_crm__accounts') }}
    union all
    select max(system_modstamp_at) as changed_at from {{ ref('stg_crm__opportunities') }}
    union all
    select max(created_at) as changed_at from {{ ref('stg_billing__events') }}
    union all
    select max(created_at) as changed_at from {{ ref('stg_billing__invoices') }}
    union all
    select max(last_modified_at) as changed_at from {{ ref('stg_erp__transactions') }}

),

final as (

    select {{ as_of }} as as_of_at
    from changes

)

select * from final
