-- ERP invoices (CustInvc) with currency codes, their applied payments and the Stripe invoice each
-- posts (int_erp_invoice_links).
with

transactions as (

    select * from {{ ref('stg_erp__transactions') }}

),

currencies as (

    select * from {{ ref('stg_erp__currencies') }}

),

links as (

    select * from {{ ref('stg_erp__transaction_links') }}

),

billing_links as (

    select * from {{ ref('int_erp_invoice_links') }}

),

payments_applied as (

    select
        links.previous_transaction_id as transaction_id,
        count(*) as payment_count,
        sum(links.foreign_amount) as applied_amount
    from links
    inner join transactions as payments
        on
            links.next_transaction_id = payments.transaction_id
            and payments.transaction_type = 'CustPymt'
    where links.link_type = 'Payment'
    group by 1

),

final as (

    select
        transactions.transaction_id,
        transactions.external_id,
        transactions.other_ref_number,
        transactions.memo,
        billing_links.billing_invoice_id,
        billing_links.billing_match_method,
        billing_links.link_field as billing_link_field,
        billing_links.link_value as billing_link_value,
        coalesce(billing_links.is_primary_posting, false) as is_primary_posting,
        transactions.erp_customer_id,
        transactions.transaction_number,
        transactions.transaction_status,
        transactions.is_voided,
        currencies.currency_code,
        transactions.exchange_rate,
        transactions.foreign_total,
        transactions.foreign_amount_unpaid,
        transactions.transaction_date,
        transactions.posting_period_id,
        transactions.created_at,
        transactions.last_modified_at,
        coalesce(payments_applied.payment_count, 0) as payment_count,
        coalesce(payments_applied.applied_amount, 0) as applied_amount
    from transactions
    inner join currencies on transactions.currency_id = currencies.currency_id
    left join payments_applied on transactions.transaction_id = payments_applied.transaction_id
    left join billing_links on transactions.transaction_id = billing_links.transaction_id
    where transactions.transaction_type = 'CustInvc'

)

select * from final
