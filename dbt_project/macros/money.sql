{# Money: integer minor units -> exact decimals in major units, aware of the currency exponent.

   The exponent of a currency (its decimal places) is, in order of precedence:
     1. var `currency_minor_units` ({code: exponent}): where the billing system's amounts differ
        from ISO 4217. Default {isk: 2}: Stripe keeps the Icelandic krona two-decimal in its API
        (an amount of 100 is 1 krona; since 2023 it must be a multiple of 100), ISO says 0.
     2. var `zero_decimal_currencies`: Stripe's zero-decimal list (exponent 0). It adds MGA,
        which ISO 4217 gives 2 decimals; UGX is zero-decimal in both.
     3. ISO 4217 (`iso_4217_exponents` below; the full list is the seed `iso_4217_currencies`,
        and tests/dbt/test_currencies.py keeps the two equal): JPY 0, KWD 3 ...
     4. otherwise 2.
   Stripe's other special cases keep the two-decimal exponent: HUF and TWD are two-decimal in
   its API (only payouts are whole units). Three-decimal currencies (BHD, JOD, KWD, OMR, TND)
   are sent in thousandths. Transaction-currency money is decimal(38, 3), USD decimal(38, 2);
   a four-decimal unit of account (CLF, UYW; no billing system charges in them) is held
   rounded to 3 decimals. The ERP's own `currency.currencyprecision` is cross-checked against
   ISO 4217 in ops.dq_issues (`currency_precision_mismatch`). #}

{#- ISO 4217 minor units of every active currency whose exponent is not 2 (lower case). -#}
{% macro iso_4217_exponents() -%}
    {{ return({
        'bhd': 3, 'bif': 0, 'clf': 4, 'clp': 0, 'djf': 0, 'gnf': 0, 'iqd': 3, 'isk': 0,
        'jod': 3, 'jpy': 0, 'kmf': 0, 'krw': 0, 'kwd': 3, 'lyd': 3, 'omr': 3, 'pyg': 0,
        'rwf': 0, 'tnd': 3, 'ugx': 0, 'uyi': 0, 'uyw': 4, 'vnd': 0, 'vuv': 0, 'xaf': 0,
        'xof': 0, 'xpf': 0,
    }) }}
{%- endmacro %}

{#- The exponent in force of every currency that is not 2 decimals: ISO 4217, then the
    zero-decimal list, then `currency_minor_units`. -#}
{% macro currency_exponents() -%}
    {%- set out = {} -%}
    {%- for code, exponent in iso_4217_exponents().items() -%}
        {%- do out.update({code: exponent}) -%}
    {%- endfor -%}
    {%- for code in var('zero_decimal_currencies') -%}
        {%- do out.update({code | lower: 0}) -%}
    {%- endfor -%}
    {%- for code, exponent in (var('currency_minor_units', {'isk': 2}) or {}).items() -%}
        {%- do out.update({code | lower: exponent | int}) -%}
    {%- endfor -%}
    {{ return(out) }}
{%- endmacro %}

{#- [(exponent, [codes])] for the exponents other than 2, in a fixed order. -#}
{% macro _exponent_groups() -%}
    {%- set table = currency_exponents() -%}
    {%- set groups = [] -%}
    {%- for exponent in [0, 1, 3, 4] -%}
        {%- set codes = [] -%}
        {%- for code in table | sort -%}
            {%- if table[code] == exponent -%}{%- do codes.append(code) -%}{%- endif -%}
        {%- endfor -%}
        {%- if codes -%}{%- do groups.append((exponent, codes)) -%}{%- endif -%}
    {%- endfor -%}
    {{ return(groups) }}
{%- endmacro %}

{% macro _code_list(codes) -%}
    ({%- for c in codes -%}'{{ c }}'{%- if not loop.last -%}, {% endif -%}{%- endfor -%})
{%- endmacro %}

{# kept for callers of the old name: the currencies whose exponent is 0 #}
{% macro zero_decimal_list() -%}
    {%- set table = currency_exponents() -%}
    {%- set codes = [] -%}
    {%- for code in table | sort -%}
        {%- if table[code] == 0 -%}{%- do codes.append(code) -%}{%- endif -%}
    {%- endfor -%}
    {{ _code_list(codes) }}
{%- endmacro %}

{% macro currency_exponent(currency) -%}
    case
        {%- for exponent, codes in _exponent_groups() %}
        when lower({{ currency }}) in {{ _code_list(codes) }} then {{ exponent }}
        {%- endfor %}
        else 2
    end
{%- endmacro %}

{# Minor units per major unit: 1, 100, 1000 ... #}
{% macro minor_unit_factor(currency) -%}
    case
        {%- for exponent, codes in _exponent_groups() %}
        when lower({{ currency }}) in {{ _code_list(codes) }} then {{ 10 ** exponent }}
        {%- endfor %}
        else 100
    end
{%- endmacro %}

{% macro _scale_literal(exponent) -%}
    {%- if exponent == 0 -%}{%- else -%} * 0.{{ '0' * (exponent - 1) }}1{%- endif -%}
{%- endmacro %}

{% macro to_major_units(amount, currency) -%}
    {#- every CASE branch is cast to the same type: engines unify decimals of width 38 by
        dropping scale, which would silently truncate cents (or fils) -#}
    case
        {%- for exponent, codes in _exponent_groups() %}
        when lower({{ currency }}) in {{ _code_list(codes) }}
            then cast(cast({{ amount }} as decimal(38, 0)){{ _scale_literal(exponent) }} as decimal(38, 3))
        {%- endfor %}
        else cast(cast({{ amount }} as decimal(38, 0)) * 0.01 as decimal(38, 3))
    end
{%- endmacro %}

{# Round an exact amount to the currency's minor unit, half away from zero (both engines'
   `round` on decimals does so). #}
{% macro round_to_minor(amount, currency) -%}
    case
        {%- for exponent, codes in _exponent_groups() %}
        when lower({{ currency }}) in {{ _code_list(codes) }}
            then cast(round({{ amount }}, {{ [exponent, 3] | min }}) as decimal(38, 3))
        {%- endfor %}
        else cast(round({{ amount }}, 2) as decimal(38, 3))
    end
{%- endmacro %}

{# Amounts agree when they are equal after rounding to the currency's minor unit: no float
   epsilon, so a one-cent (or one-yen, one-fils) difference is a difference. #}
{% macro amounts_differ(left, right, currency) -%}
    ({{ round_to_minor(left, currency) }} <> {{ round_to_minor(right, currency) }})
{%- endmacro %}

{# A transaction-currency amount in USD at an ERP rate (USD per unit), rounded to cents. #}
{% macro to_usd(amount, rate) -%}
    cast(round(cast({{ amount }} as decimal(38, 6)) * {{ rate }}, 2) as decimal(38, 2))
{%- endmacro %}

{# An amount as the ERP writes it: major units with the currency's decimals (USD "12.50",
   JPY "1250", KWD "5.125"). #}
{% macro format_amount(amount, currency) -%}
    case
        {%- for exponent, codes in _exponent_groups() %}
        when lower({{ currency }}) in {{ _code_list(codes) }}
            then cast(cast({{ amount }} as decimal(38, {{ [exponent, 3] | min }})) as varchar)
        {%- endfor %}
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

{# Two decimal figures differ, compared as decimal(38, scale). Both engines keep decimals exact;
   fakesnow (the Snowflake test double) sums decimals as doubles, so data tests that compare
   sums cast both sides to the money type before comparing. #}
{% macro decimals_differ(left, right, scale=3) -%}
    (cast({{ left }} as decimal(38, {{ scale }})) <> cast({{ right }} as decimal(38, {{ scale }})))
{%- endmacro %}
