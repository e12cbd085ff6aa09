-- The item lines of the invoices `erp_corrections` creates, one typed row per line, named as
-- the NetSuite REST record API names an invoice's `item` sublist: the item (internal id, else
-- the billing product as external id), quantity, amount (transaction currency, major units)
-- and description. Reverse ETL assembles the invoice's `item.items` from them, in `line` order.
with

corrections as (

    select * from {{ ref('erp_corrections') }}
    where exception_type = 'invoice_missing_in_erp' and action = 'create'

),

exceptions as (

    select * from {{ ref('recon_exceptions') }}

),

invoice_lines as (

    select * from {{ ref('fct_invoice_line') }}

),

products as (

    select * from {{ ref('dim_product') }}

),

final as (

    select
        corrections.correction_id,
        cast(row_number() over (
            partition by corrections.correction_id order by invoice_lines.invoice_line_id
        ) as integer) as line,
        cast(invoice_lines.invoice_line_id as varchar) as invoice_line_id,
        cast(products.erp_item_id as varchar) as item_ref,
        cast(case when products.erp_item_id is null then products.billing_product_id end as varchar)
            as item_external_id,
        cast(invoice_lines.quantity as bigint) as quantity,
        cast(invoice_lines.amount as decimal(38, 3)) as amount,
        cast(invoice_lines.description as varchar) as description
    from corrections
    inner join exceptions on corrections.exception_id = exceptions.exception_id
    inner join invoice_lines on exceptions.billing_id = invoice_lines.invoice_id
    left join products on invoice_lines.product_code = products.product_code

)

select * from final
