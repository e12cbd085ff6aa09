"""`python -m tests.ingestion.ingest_subset billing`: the kill -9 test's ingest process."""

from __future__ import annotations

import sys

from closeloop.settings import disable_telemetry
from tests.ingestion.test_resilience import SUBSETS

if __name__ == "__main__":
    disable_telemetry()
    from ingestion.pipelines import run_system

    system = sys.argv[1]
    run_system(system, resources=SUBSETS[system])
