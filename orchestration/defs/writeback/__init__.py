"""Write-back: plan, apply and verify the ERP corrections, downstream of `erp_corrections`."""

import dagster as dg

from orchestration.defs.writeback.assets import WRITEBACK_ASSETS

defs = dg.Definitions(assets=WRITEBACK_ASSETS)
