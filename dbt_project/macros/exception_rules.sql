{# The exception types of DESIGN.md with who owns the truth, which system gets corrected, the
   action, base severity and whether the fix moves money (then a human approves it). One place,
   read by recon_exceptions, erp_corrections and the accepted_values tests. #}
{% macro exception_type_rules() -%}
    {{ return([
        ('customer_missing_in_billing', 'crm', 'billing', 'create_billing_customer', 'high', false),
        ('customer_missing_in_erp', 'crm', 'erp', 'create_erp_customer', 'high', false),
        ('customer_attribute_mismatch', 'crm', 'erp', 'update_erp_customer', 'low', false),
        ('subscription_missing', 'crm', 'billing', 'create_billing_subscription', 'high', true),
        ('contract_subscription_mismatch', 'crm', 'billing', 'update_billing_subscription', 'medium', true),
        ('invoice_missing_in_erp', 'billing', 'erp', 'create_erp_invoice', 'high', true),
        ('invoice_duplicate_in_erp', 'billing', 'erp', 'void_erp_invoice', 'high', true),
        ('invoice_amount_mismatch', 'billing', 'erp', 'update_erp_invoice', 'high', true),
        ('invoice_currency_mismatch', 'billing', 'erp', 'update_erp_invoice', 'high', true),
        ('invoice_status_mismatch', 'billing', 'erp', 'update_erp_invoice', 'medium', false),
        ('payment_missing_in_erp', 'billing', 'erp', 'create_erp_payment', 'high', true),
        ('payment_amount_mismatch', 'billing', 'erp', 'update_erp_payment', 'medium', true),
        ('refund_missing_in_erp', 'billing', 'erp', 'create_erp_customer_refund', 'high', true),
        ('credit_note_missing_in_erp', 'billing', 'erp', 'create_erp_credit_memo', 'high', true),
        ('payment_unapplied_in_erp', 'billing', 'erp', 'apply_erp_payment', 'medium', true),
        ('payment_duplicate_in_erp', 'billing', 'erp', 'void_erp_payment', 'high', true),
    ]) }}
{%- endmacro %}

{# Types a person corrects in the ERP: recon lists them (requires_approval), write-back plans
   no correction for them (erp_corrections leaves them out). Creating a customer refund or a
   credit memo needs the refund's or credit's accounting (the account it is paid from, the
   items credited), applying cash needs the invoice the customer meant, and voiding a payment
   posted twice needs its deposit: no write closeloop could make unattended and prove
   idempotent (docs/exceptions.md, "Cash and credits"). #}
{% macro manual_exception_types() -%}
    {{ return([
        'refund_missing_in_erp',
        'credit_note_missing_in_erp',
        'payment_unapplied_in_erp',
        'payment_duplicate_in_erp',
    ]) }}
{%- endmacro %}

{% macro exception_types() -%}
    {{ return(exception_type_rules() | map(attribute=0) | list) }}
{%- endmacro %}

{% macro exception_rules() -%}
    {%- for r in exception_type_rules() %}
    select
        '{{ r[0] }}' as exception_type,
        '{{ r[1] }}' as owner_system,
        '{{ r[2] }}' as mirror_system,
        '{{ r[3] }}' as correction_action,
        '{{ r[4] }}' as base_severity,
        {{ r[5] }} as is_money_changing
    {% if not loop.last %}union all{% endif %}
    {%- endfor %}
{%- endmacro %}

{# The metrics of kpi_monthly, each in transaction currency and `_usd`: one list per KPI family
   (macros/kpi/<family>.sql), whose long-format model is models/kpi/families/int_kpi_<family>. #}
{% macro kpi_metrics() -%}
    {{ return(kpi_metrics_bookings() + kpi_metrics_cash() + kpi_metrics_revenue() + kpi_metrics_mrr()) }}
{%- endmacro %}
