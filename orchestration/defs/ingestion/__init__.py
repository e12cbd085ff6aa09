"""Ingestion: the dlt sources as raw-table assets, with retries and freshness policies."""

import dagster as dg

from orchestration.defs.ingestion.assets import INGESTION_ASSETS

defs = dg.Definitions(assets=INGESTION_ASSETS)
