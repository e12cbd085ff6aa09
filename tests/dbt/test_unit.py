"""The dbt unit tests: `make test` runs them, closeloop's own builds leave them out."""

from __future__ import annotations

from pathlib import Path

import duckdb

from tests.dbt.conftest import Built, copy_warehouse
from transform import run_dbt, without_unit_tests


def test_builds_leave_unit_tests_out_unless_asked() -> None:
    assert without_unit_tests(["build"]) == ["build", "--exclude-resource-type", "unit_test"]
    excluded = ["--exclude-resource-type", "unit_test"]
    assert without_unit_tests(["build", "-s", "kpi"])[-2:] == excluded
    assert without_unit_tests(["build", "--resource-type", "unit_test"]) == [
        "build", "--resource-type", "unit_test",
    ]  # fmt: skip
    assert without_unit_tests(["run"]) == ["run"]


def test_unit_tests_pass(built: Built) -> None:
    outcome = built.dbt("test", "--select", "test_type:unit")
    assert outcome.success, outcome.failures or outcome.exception
    assert sum(1 for uid in outcome.statuses if uid.startswith("unit_test.")) >= 8


def test_unit_tests_bind_when_optional_raw_columns_were_never_landed(
    built: Built, tmp_path: Path
) -> None:
    """A company that never set an optional Stripe field has no such column: still green."""
    settings = copy_warehouse(built, tmp_path)
    con = duckdb.connect(str(settings.duckdb_path))
    try:
        for column in ("status_transitions__marked_uncollectible_at", "paid_out_of_band"):
            con.execute(f"alter table raw_billing.invoices drop column {column}")
    finally:
        con.close()
    target = tmp_path / "target"
    staged = run_dbt(["run", "--select", "staging"], settings, target="dev", target_path=target)
    assert staged.success, staged.failures or staged.exception
    outcome = run_dbt(
        ["test", "--select", "test_type:unit"], settings, target="dev", target_path=target
    )
    assert outcome.success, outcome.failures or outcome.exception
    assert "unit_test.closeloop.stg_billing__invoices.money_respects_the_currency_exponent" in (
        outcome.statuses
    )
