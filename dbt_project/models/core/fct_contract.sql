with

contracts as (

    select * from {{ ref('stg_crm__contracts') }}

),

terms as (

    select * from {{ ref('int_contract_terms_current') }}

),

xref as (

    select * from {{ ref('customer_xref') }}

),

fx as (

    select * from {{ ref('int_fx_rates_daily') }}

),

current_terms as (

    select
        contract_id,
        opportunity_id,
        opportunity_type,
        sum(quantity * unit_price) as period_amount
    from terms
    group by 1, 2, 3

),

final as (

    select
        -- ids
        cast(contracts.contract_id as varchar) as contract_id,
        cast(contracts.account_id as varchar) as crm_account_id,
        xref.customer_id,
        cast(current_terms.opportunity_id as varchar) as current_terms_opportunity_id,
        -- strings
        cast(contracts.contract_number as varchar) as contract_number,
        cast(contracts.contract_status as varchar) as contract_status,
        cast(contracts.billing_frequency as varchar) as billing_frequency,
        cast(contracts.currency_code as varchar) as currency_code,
        cast(current_terms.opportunity_type as varchar) as current_terms_opportunity_type,
        -- numerics
        cast(contracts.contract_term_months as bigint) as contract_term_months,
        cast(current_terms.period_amount as decimal(38, 3)) as billing_period_amount,
        {{ to_usd('current_terms.period_amount', 'fx.usd_per_unit') }} as billing_period_amount_usd,
        -- booleans
        contracts.contract_status = 'Activated' as is_activated,
        -- dates and timestamps
        contracts.start_date,
        contracts.end_date,
        cast(contracts.activated_at as timestamp) as activated_at
    from contracts
    left join current_terms on contracts.contract_id = current_terms.contract_id
    left join xref on contracts.account_id = xref.crm_account_id
    left join fx
        on
            contracts.currency_code = fx.currency_code
            and contracts.start_date = fx.rate_date

)

select * from final
