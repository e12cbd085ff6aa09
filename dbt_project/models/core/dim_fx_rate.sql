with

rates as (

    select * from {{ ref('int_fx_rates_daily') }}

),

final as (

    select
        {{ surrogate_key(['rate_date', 'currency_code']) }} as fx_rate_id,
        rate_date,
        cast(currency_code as varchar) as currency_code,
        cast('{{ var("reporting_currency") }}' as varchar) as reporting_currency_code,
        cast(usd_per_unit as decimal(38, 9)) as usd_per_unit,
        cast(rate_effective_date as date) as rate_effective_date
    from rates

)

select * from final
