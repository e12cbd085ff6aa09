{# A column of the ERP payment a charge maps to, by the `erp_payment_reference` var: the
   payment whose externalid is the charge id (`charge`), its payment intent's (`payment_intent`),
   or either, the charge first (`auto`). Expects joins `by_charge` and `by_intent`. #}
{% macro erp_payment_by_reference(column, mode) -%}
    {%- if mode == 'charge' -%}
        by_charge.{{ column }}
    {%- elif mode == 'payment_intent' -%}
        by_intent.{{ column }}
    {%- else -%}
        coalesce(by_charge.{{ column }}, by_intent.{{ column }})
    {%- endif -%}
{%- endmacro %}

{# Which key tied the charge's ERP payment: charge or payment_intent (null: none). #}
{% macro erp_payment_match_method(mode) -%}
    case
        when {{ erp_payment_by_reference('erp_payment_id', mode) }} is null then null
        {%- if mode == 'auto' %}
        when by_charge.erp_payment_id is not null then 'charge'
        {%- endif %}
        else '{{ 'charge' if mode == 'charge' else 'payment_intent' }}'
    end
{%- endmacro %}

{# The Account.Type values of the `customer_account_types` var as a SQL list, or none. #}
{% macro customer_account_types_sql() -%}
    {%- set types = var('customer_account_types') or [] -%}
    {%- if types is string -%}
        {%- set types = [types] -%}
    {%- endif -%}
    {%- if not types -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set quoted = [] -%}
    {%- for t in types -%}
        {%- do quoted.append("'" ~ (t | replace("'", "''")) ~ "'") -%}
    {%- endfor -%}
    {{ return('(' ~ quoted | join(', ') ~ ')') }}
{%- endmacro %}
