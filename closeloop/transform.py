"""Compatibility alias: the dbt runner lives in the `transform` package (its own layer).

Kept so scripts written against `closeloop.transform` keep working; closeloop's own code
imports `transform`.
"""

from transform import (
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
