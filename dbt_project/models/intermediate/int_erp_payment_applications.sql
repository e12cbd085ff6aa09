-- ERP payments (CustPymt) and the invoices each is applied to: one payment may pay many
-- invoices (a bank wire), so the grain is payment x invoice.
with

transactions as (

    select * from {{ ref('stg_erp__transactions') }}

),

links as (

    select * from {{ ref('stg_erp__transaction_links') }}

),

currencies as (

    select * from {{ ref('stg_erp__currencies') }}

),

invoice_links as (

    select * from {{ ref('int_erp_invoice_links') }}

),

payments as (

    select
        transactions.transaction_id as erp_payment_id,
        transactions.external_id as payment_external_id,
        transactions.foreign_total as payment_total,
        currencies.currency_code,
        transactions.transaction_date,
        transactions.created_at
    from transactions
    inner join currencies on transactions.currency_id = currencies.currency_id
    where transactions.transaction_type = 'CustPymt'

),

final as (

    select
        payments.erp_payment_id,
        payments.payment_external_id,
        payments.payment_total,
        payments.currency_code,
        payments.transaction_date,
        payments.created_at,
        links.previous_transaction_id as erp_invoice_id,
        links.foreign_amount as applied_amount,
        -- the Stripe invoice the applied ERP invoice posts (externalid, else a reference field)
        coalesce(invoice_links.billing_invoice_id, invoices.external_id) as invoice_external_id
    from payments
    left join links
        on
            payments.erp_payment_id = links.next_transaction_id
            and links.link_type = 'Payment'
    left join transactions as invoices
        on links.previous_transaction_id = invoices.transaction_id
    left join invoice_links on links.previous_transaction_id = invoice_links.transaction_id

)

select * from final
