{{ config(materialized='table') }}
-- USD per unit of each currency for every day, from the ERP's effective-dated rates against its
-- USD base currency: the rate of a day is the latest one effective on or before it (companies
-- enter rates daily, monthly on the 1st or irregularly). Each currency's days run from its first
-- effective date to past the newest date any model converts; a day before a currency's first
-- rate has no row (the amount is flagged in ops.dq_issues).
with

rates as (

    select * from {{ ref('stg_erp__currency_rates') }}

),

currencies as (

    select * from {{ ref('stg_erp__currencies') }}

),

clock as (

    select * from {{ ref('int_recon_clock') }}

),

contracts as (

    select max(start_date) as start_date from {{ ref('stg_crm__contracts') }}

),

to_usd as (

    select
        rates.effective_date,
        quote.currency_code,
        rates.exchange_rate as usd_per_unit
    from rates
    inner join currencies as base
        on rates.base_currency_id = base.currency_id
    inner join currencies as quote
        on rates.transaction_currency_id = quote.currency_id
    where
        base.currency_code = '{{ var("reporting_currency") }}'
        and quote.currency_code <> '{{ var("reporting_currency") }}'
        and rates.effective_date is not null
        and rates.exchange_rate is not null
    -- two rates entered for one day: the one modified last wins
    qualify row_number() over (
        partition by quote.currency_code, rates.effective_date
        order by rates.last_modified_at desc, rates.currency_rate_id desc
    ) = 1

),

first_dates as (

    -- the reporting currency is itself from the first day anything is dated
    select min(first_date) as first_date
    from (
        select min(effective_date) as first_date from to_usd
        union all
        select cast(min(created_at) as date) as first_date from {{ ref('stg_billing__invoices') }}
        union all
        select min(close_date) as first_date from {{ ref('stg_crm__opportunities') }}
        union all
        select min(start_date) as first_date from {{ ref('stg_crm__contracts') }}
    ) as firsts

),

usd_itself as (

    select
        first_dates.first_date as effective_date,
        '{{ var("reporting_currency") }}' as currency_code,
        cast(1 as decimal(38, 9)) as usd_per_unit
    from first_dates
    where first_dates.first_date is not null

),

effective as (

    select * from to_usd
    union all
    select * from usd_itself

),

valid as (

    select
        currency_code,
        usd_per_unit,
        effective_date as valid_from,
        lead(effective_date) over (partition by currency_code order by effective_date) as valid_to
    from effective

),

bounds as (

    -- the newest date converted: the newest rate, the as-of date, or a future contract start
    select
        min(effective.effective_date) as start_date,
        {{ add_days(
            'greatest(max(effective.effective_date), max(cast(clock.as_of_at as date)), '
            ~ 'coalesce(max(contracts.start_date), max(effective.effective_date)))',
            var('fx_spine_margin_days'),
        ) }} as end_date
    from effective
    cross join clock
    cross join contracts

),

spine as (

    {{ date_spine('(select start_date from bounds)', '(select end_date from bounds)') }}

),

final as (

    select
        spine.date_day as rate_date,
        valid.currency_code,
        valid.usd_per_unit,
        valid.valid_from as rate_effective_date
    from spine
    inner join valid
        on
            spine.date_day >= valid.valid_from
            and (valid.valid_to is null or spine.date_day < valid.valid_to)

)

select * from final
