-- Every won opportunity with its bookings split at the delta against the terms in force before
-- it: new, expansion, contraction (negative) and renewal, in the opportunity's currency.
-- Definitions: docs/metrics.md, "Bookings". The picklist Type is not read: an opportunity is
-- classified by the customer's contract history (ContractId, contract dates) and the amounts.
{%- set amendment_amount = var('opportunity_amendment_amount', 'auto') %}
{%- if amendment_amount not in ('total', 'change', 'auto') %}
    {{ exceptions.raise_compiler_error(
        "var opportunity_amendment_amount must be total, change or auto, not " ~ amendment_amount
    ) }}
{%- endif %}
{%- set window_days = var('renewal_window_days', 31) | int %}
{%- set order_by = 'close_date, created_at, opportunity_id' %}
with

opportunities as (

    select * from {{ ref('stg_crm__opportunities') }}

),

contracts as (

    select * from {{ ref('stg_crm__contracts') }}

),

xref as (

    select
        crm_account_id,
        min(customer_id) as customer_id
    from {{ ref('customer_xref') }}
    where crm_account_id is not null
    group by 1

),

won as (

    select
        opportunities.opportunity_id,
        opportunities.account_id,
        coalesce(xref.customer_id, opportunities.account_id) as customer_id,
        opportunities.contract_id,
        -- a won opportunity without a contract opens a contract of its own
        coalesce(opportunities.contract_id, 'opportunity:' || opportunities.opportunity_id)
            as contract_key,
        opportunities.currency_code,
        opportunities.close_date,
        opportunities.created_at,
        cast(opportunities.amount as decimal(38, 3)) as amount
    from opportunities
    left join xref on opportunities.account_id = xref.crm_account_id
    -- without an Amount a won opportunity books nothing and is no event of its contract
    where
        opportunities.is_won
        and opportunities.close_date is not null
        and opportunities.amount is not null

),

sequenced as (

    select
        won.*,
        row_number() over (partition by won.customer_id order by {{ order_by }}) as customer_seq,
        row_number() over (partition by won.contract_key order by {{ order_by }}) as contract_seq,
        first_value(won.amount) over (partition by won.contract_key order by {{ order_by }})
            as opening_amount,
        lag(won.amount) over (partition by won.contract_key order by {{ order_by }})
            as previous_amount,
        sum(won.amount) over (
            partition by won.contract_key order by {{ order_by }}
            rows between unbounded preceding and current row
        ) as running_amount
    from won

),

semantics as (

    -- how the company enters an amendment's Amount: the var, or (auto) read from behaviour
    select
        cast(case
            when '{{ amendment_amount }}' <> 'auto' then '{{ amendment_amount }}'
            when count(*) = 0 then 'total'
            -- only a change can be negative
            when sum(case when amount < 0 then 1 else 0 end) > 0 then 'change'
            -- a restatement of the whole contract is near its opening Amount, a change small
            when median(amount / nullif(opening_amount, 0)) is null then 'total'
            when median(amount / nullif(opening_amount, 0)) >= 0.6 then 'total'
            else 'change'
        end as varchar) as amendment_amount
    from sequenced
    where contract_seq > 1

),

valued as (

    select
        sequenced.*,
        semantics.amendment_amount,
        -- the contract's value once this opportunity is signed
        case
            when semantics.amendment_amount = 'total' then sequenced.amount
            else sequenced.running_amount
        end as value_after,
        -- an amendment's change against the terms in force before it
        case
            when sequenced.contract_seq = 1 then null
            when semantics.amendment_amount = 'total' then sequenced.amount - sequenced.previous_amount
            else sequenced.amount
        end as amendment_delta
    from sequenced
    cross join semantics

),

openings as (

    select
        valued.*,
        contracts.start_date,
        contracts.end_date,
        contracts.contract_term_months
    from valued
    left join contracts on valued.contract_id = contracts.contract_id
    where valued.contract_seq = 1

),

renewal_candidates as (

    -- an earlier contract of the same customer and currency that this opening renews: signed
    -- while that contract is in force (closed on or before its EndDate), starting after it ends
    -- and within the window of its end
    select
        renewal.opportunity_id,
        ending.contract_key as renewed_contract_key,
        ending.contract_id as renewed_contract_id,
        ending.contract_term_months as renewed_term_months
    from openings as renewal
    inner join openings as ending
        on
            renewal.customer_id = ending.customer_id
            and renewal.currency_code = ending.currency_code
            and renewal.customer_seq > ending.customer_seq
            and renewal.close_date <= ending.end_date
            and renewal.start_date > ending.end_date
            and {{ add_days('renewal.start_date', -1 - window_days) }} <= ending.end_date
    qualify row_number() over (
        partition by renewal.opportunity_id
        order by
            abs({{ days_between(add_days('renewal.start_date', -1), 'ending.end_date') }}),
            ending.customer_seq desc
    ) = 1

),

renewal_bases as (

    -- the renewed contract's value in force just before the renewal (after the amendments
    -- ordered before it), restated to the renewal's term when the terms differ
    select
        renewal_candidates.opportunity_id,
        renewal_candidates.renewed_contract_id,
        case
            when
                renewal.contract_term_months > 0
                and renewal_candidates.renewed_term_months > 0
                and renewal.contract_term_months <> renewal_candidates.renewed_term_months
                then {{ round_to_minor(
                    'ending_value.value_after * renewal.contract_term_months'
                    ~ ' / renewal_candidates.renewed_term_months',
                    'renewal.currency_code'
                ) }}
            else ending_value.value_after
        end as renewed_base
    from renewal_candidates
    inner join openings as renewal on renewal_candidates.opportunity_id = renewal.opportunity_id
    inner join valued as ending_value
        on
            renewal_candidates.renewed_contract_key = ending_value.contract_key
            and renewal.customer_seq > ending_value.customer_seq
    qualify row_number() over (
        partition by renewal_candidates.opportunity_id order by ending_value.contract_seq desc
    ) = 1

),

classified as (

    select
        valued.opportunity_id,
        valued.account_id,
        valued.customer_id,
        valued.contract_id,
        valued.currency_code,
        valued.close_date,
        valued.amount,
        valued.amendment_amount,
        renewal_bases.renewed_contract_id,
        case
            when valued.contract_seq > 1 then 'amendment'
            when renewal_bases.opportunity_id is not null then 'renewal'
            when valued.customer_seq = 1 then 'new'
            else 'other'
        end as booking_kind,
        case
            when valued.contract_seq > 1 then valued.amendment_delta
            when renewal_bases.opportunity_id is not null
                then valued.amount - renewal_bases.renewed_base
            when valued.customer_seq = 1 then 0
            else valued.amount
        end as delta,
        renewal_bases.renewed_base
    from valued
    left join renewal_bases on valued.opportunity_id = renewal_bases.opportunity_id

),

final as (

    select
        cast(opportunity_id as varchar) as opportunity_id,
        cast(account_id as varchar) as account_id,
        cast(customer_id as varchar) as customer_id,
        cast(contract_id as varchar) as contract_id,
        cast(renewed_contract_id as varchar) as renewed_contract_id,
        cast(currency_code as varchar) as currency_code,
        close_date,
        cast(booking_kind as varchar) as booking_kind,
        cast(amendment_amount as varchar) as amendment_amount,
        cast(amount as decimal(38, 3)) as amount,
        cast(case when booking_kind = 'new' then amount else 0 end as decimal(38, 3)) as bookings_new,
        cast(case when delta > 0 then delta else 0 end as decimal(38, 3)) as bookings_expansion,
        cast(case when delta < 0 then delta else 0 end as decimal(38, 3)) as bookings_contraction,
        cast(coalesce(renewed_base, 0) as decimal(38, 3)) as bookings_renewal
    from classified

)

select * from final
