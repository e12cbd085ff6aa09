-- USD per unit of each currency per day, from the ERP's rates against its USD base currency.
with

rates as (

    select * from {{ ref('stg_erp__currency_rates') }}

),

currencies as (

    select * from {{ ref('stg_erp__currencies') }}

),

to_usd as (

    select
        rates.effective_date as rate_date,
        quote.currency_code,
        rates.exchange_rate as usd_per_unit
    from rates
    inner join currencies as base
        on rates.base_currency_id = base.currency_id
    inner join currencies as quote
        on rates.transaction_currency_id = quote.currency_id
    where base.currency_code = '{{ var("reporting_currency") }}'

),

usd_itself as (

    select distinct
        rate_date,
        '{{ var("reporting_currency") }}' as currency_code,
        cast(1 as decimal(38, 9)) as usd_per_unit
    from to_usd

),

final as (

    select * from to_usd
    union all
    select * from usd_itself

)

select * from final
