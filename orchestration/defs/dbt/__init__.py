"""dbt: every model an asset, every dbt test an asset check."""

import dagster as dg

from orchestration.defs.dbt.assets import dbt_models

defs = dg.Definitions(assets=[dbt_models])
