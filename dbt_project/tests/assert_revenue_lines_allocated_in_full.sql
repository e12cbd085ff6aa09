-- Every invoice line's months add up exactly to the line (cumulative rounding loses no minor
-- unit), and every line's schedule runs out: after its last month nothing is left, so billed -
-- credited - written_off - recognized over all its months is its last closing, and a line whose
-- schedule is complete has a closing of zero. A row is returned for every breach.
with

schedule as (

    select * from {{ ref('int_revenue_recognized_months') }}

),

per_line as (

    select
        invoice_line_id,
        max(line_amount) as line_amount,
        -- cast back: some engines sum wide decimals as doubles
        cast(sum(allocated) as decimal(38, 3)) as allocated,
        cast(sum(billed - credited - written_off - recognized) as decimal(38, 3)) as left_over,
        cast(sum(billed - credited - written_off - recognized - closing + opening) as decimal(38, 3))
            as imbalance
    from schedule
    group by 1

)

select * from per_line
where allocated <> line_amount or left_over <> 0 or imbalance <> 0
