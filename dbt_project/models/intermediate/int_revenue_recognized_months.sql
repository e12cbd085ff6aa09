-- Recognized revenue: each invoice line straight-line over its service period by the second,
-- allocated to the months it overlaps, in minor units rounded half away from zero. Lines
-- without a period length (usage) are recognized in the month they start.
with

lines as (

    select * from {{ ref('fct_invoice_line') }}

),

invoices as (

    select * from {{ ref('stg_billing__invoices') }}

),

months as (

    select * from {{ ref('int_months') }}

),

billed as (

    select
        lines.invoice_line_id,
        lines.currency_code,
        cast(lines.amount * case
            when {{ currency_exponent('lines.currency_code') }} = 0 then 1 else 100
        end
        as bigint) as amount_minor,
        lines.service_period_start_at as starts_at,
        case
            when lines.service_period_end_at > lines.service_period_start_at
                then lines.service_period_end_at
        end as ends_at
    from lines
    inner join invoices on lines.invoice_id = invoices.invoice_id
    where invoices.invoice_status <> 'void'

),

allocated as (

    select
        months.month_start,
        billed.currency_code,
        case
            when billed.ends_at is null then billed.amount_minor
            else {{ div_round(
                'billed.amount_minor * ' ~ seconds_between(
                    'case when billed.starts_at > cast(months.month_start as timestamp) then billed.starts_at else cast(months.month_start as timestamp) end',
                    'case when billed.ends_at < months.month_end_at then billed.ends_at else months.month_end_at end'
                ),
                seconds_between('billed.starts_at', 'billed.ends_at')
            ) }}
        end as recognized_minor
    from billed
    inner join months
        on
            billed.starts_at < months.month_end_at
            and coalesce(billed.ends_at, {{ add_days('billed.starts_at', 1) }})
            > cast(months.month_start as timestamp)

),

final as (

    select
        month_start,
        currency_code,
        {{ to_major_units('sum(recognized_minor)', 'currency_code') }} as recognized_revenue
    from allocated
    group by 1, 2

)

select * from final
