-- Per month and currency (and ALL, in USD): billings_net = billings - billings_voided -
-- credit_notes and collections_net = collections - refunds (docs/metrics.md, Billings and
-- Collections). A row is returned for every month where a figure does not tie.
with

kpi as (

    select * from {{ ref('kpi_monthly') }}

)

select
    month_start,
    currency_code
from kpi
where
    {{ decimals_differ('coalesce(billings_net, 0)', 'coalesce(billings - billings_voided - credit_notes, 0)') }}
    or {{ decimals_differ('billings_net_usd', 'billings_usd - billings_voided_usd - credit_notes_usd', 2) }}
    or {{ decimals_differ('coalesce(collections_net, 0)', 'coalesce(collections - refunds, 0)') }}
    or {{ decimals_differ('collections_net_usd', 'collections_usd - refunds_usd', 2) }}
