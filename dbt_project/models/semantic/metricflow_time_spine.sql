-- MetricFlow's time spine (docs/metrics.md, The semantic layer): one row per day, so that
-- `metric_time` can be asked at any standard grain (day, week, month, quarter, year). The range
-- covers 2000-01-01 to 2040-12-31; a day outside it only loses spine-joined metrics.

{{ config(materialized='table', schema='semantic') }}

with

digits as (

    select digit_values.d
    from (values (0), (1), (2), (3), (4), (5), (6), (7), (8), (9)) as digit_values (d)

),

numbers as (

    select
        ones.d
        + 10 * tens.d
        + 100 * hundreds.d
        + 1000 * thousands.d
        + 10000 * ten_thousands.d as n
    from digits as ones
    cross join digits as tens
    cross join digits as hundreds
    cross join digits as thousands
    cross join digits as ten_thousands

),

final as (

    select cast({{ dbt.dateadd('day', 'n', "cast('2000-01-01' as date)") }} as date) as date_day
    from numbers

)

select * from final
where date_day < cast('2041-01-01' as date)
