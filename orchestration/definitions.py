"""closeloop's Dagster definitions: `dagster dev -m orchestration.definitions` or `closeloop ui`."""

import dagster as dg

from orchestration.defs import automation, dbt, ingestion, recon, writeback
from orchestration.defs.resources import resources

defs = dg.Definitions.merge(
    ingestion.defs,
    dbt.defs,
    writeback.defs,
    recon.defs,
    automation.defs,
    # one process runs the steps in order: DuckDB allows a single writer
    dg.Definitions(resources=resources(), executor=dg.in_process_executor),
)
