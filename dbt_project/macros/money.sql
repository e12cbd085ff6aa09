{# Money: integer minor units -> exact decimals in major units, aware of the currency exponent.
   Stripe sends JPY and other zero-decimal currencies without a minor unit. #}

{% macro zero_decimal_list() -%}
    ({%- for c in var('zero_decimal_currencies') -%}'{{ c | lower }}'{%- if not loop.last -%}, {% endif -%}{%- endfor -%})
{%- endmacro %}

{% macro currency_exponent(currency) -%}
    case when lower({{ currency }}) in {{ zero_decimal_list() }} then 0 else 2 end
{%- endmacro %}

{% macro to_major_units(amount, currency) -%}
    {#- every CASE branch is cast to the same type: engines unify decimals of width 38 by
        dropping scale, which would silently truncate cents -#}
    case
        when lower({{ currency }}) in {{ zero_decimal_list() }}
            then cast(cast({{ amount }} as decimal(38, 0)) as decimal(38, 3))
        else cast(cast({{ amount }} as decimal(38, 0)) * 0.01 as decimal(38, 3))
    end
{%- endmacro %}

{# Round an exact amount to the currency's minor unit, half away from zero (both engines'
   `round` on decimals does so). #}
{% macro round_to_minor(amount, currency) -%}
    case
        when lower({{ currency }}) in {{ zero_decimal_list() }}
            then cast(round({{ amount }}, 0) as decimal(38, 3))
        else cast(round({{ amount }}, 2) as decimal(38, 3))
    end
{%- endmacro %}

{# Amounts agree when they are equal after rounding to the currency's minor unit: no float
   epsilon, so a one-cent (or one-yen) difference is a difference. #}
{% macro amounts_differ(left, right, currency) -%}
    ({{ round_to_minor(left, currency) }} <> {{ round_to_minor(right, currency) }})
{%- endmacro %}

{# A transaction-currency amount in USD at an ERP rate (USD per unit), rounded to cents. #}
{% macro to_usd(amount, rate) -%}
    cast(round(cast({{ amount }} as decimal(38, 6)) * {{ rate }}, 2) as decimal(38, 2))
{%- endmacro %}

{# An amount as the ERP writes it: major units, 2 decimals, none for zero-decimal currencies. #}
{% macro format_amount(amount, currency) -%}
    case
        when lower({{ currency }}) in {{ zero_decimal_list() }}
            then cast(cast({{ amount }} as decimal(38, 0)) as varchar)
        else cast(cast({{ amount }} as decimal(38, 2)) as varchar)
    end
{%- endmacro %}

{# Monthly recurring amount of one item, from the unit price in minor units: unit x quantity,
   annual prices / 12 rounded per item (half away from zero) to the currency's minor unit;
   usage (no interval) is not recurring. #}
{% macro monthly_amount(unit_amount_minor, quantity, interval, currency) -%}
    {{ to_major_units(
        'case when ' ~ interval ~ " = 'month' then " ~ unit_amount_minor ~ ' * ' ~ quantity
        ~ ' when ' ~ interval ~ " = 'year' then "
        ~ div_round('cast(' ~ unit_amount_minor ~ ' * ' ~ quantity ~ ' as bigint)', 12)
        ~ ' else 0 end',
        currency
    ) }}
{%- endmacro %}
