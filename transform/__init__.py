"""The dbt layer: run the dbt project in-process, for the CLI, orchestration, tests and benchmarks.

Its own layer (it imports only `closeloop.settings`), so the CLI and orchestration both use it
without importing each other.
"""

from transform.runner import (
    DBT_PROJECT_DIR,
    DbtOutcome,
    dbt_env,
    patched_env,
    run_dbt,
    without_unit_tests,
)

__all__ = [
    "DBT_PROJECT_DIR",
    "DbtOutcome",
    "dbt_env",
    "patched_env",
    "run_dbt",
    "without_unit_tests",
]
