"""The raw-table assets against a served sandbox: per-table subsets, and no retry on bad keys."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg
import duckdb

from orchestration.loop import patched_environ
from sandbox.server import RunningSandbox


def _materialize(defs: Any, *keys: list[str]) -> dg.ExecuteInProcessResult:
    # the resources read CLOSELOOP_HOME and the SOURCES__* variables the fixture set
    job = defs.resolve_implicit_global_asset_job_def()
    return job.execute_in_process(
        instance=dg.DagsterInstance.ephemeral(),
        asset_selection=[dg.AssetKey(k) for k in keys],
        raise_on_error=False,
    )


def test_a_side_table_runs_its_parent_resource(
    defs: Any, served_home: tuple[Path, RunningSandbox]
) -> None:
    home, _ = served_home
    result = _materialize(defs, ["raw_billing", "invoice_lines"])
    assert result.success
    events = result.get_asset_materialization_events()
    # only what was selected is reported, though the invoices resource landed both tables
    assert [e.asset_key.to_user_string() for e in events] == ["raw_billing/invoice_lines"]
    metadata = events[0].materialization.metadata
    assert metadata["rows_loaded"].value > 0
    with duckdb.connect(str(home / "closeloop.duckdb")) as con:
        lines = con.execute("select count(*) from raw_billing.invoice_lines").fetchone()
        tables = {
            r[0]
            for r in con.execute(
                "select table_name from information_schema.tables "
                "where table_schema = 'raw_billing'"
            ).fetchall()
        }
    assert lines is not None and lines[0] == metadata["rows_loaded"].value
    assert "customers" not in tables


def test_a_refused_key_fails_without_retrying(
    defs: Any, served_home: tuple[Path, RunningSandbox]
) -> None:
    del served_home  # serves the sandbox and points the environment at it
    with patched_environ({"SOURCES__CRM__ACCESS_TOKEN": "not-the-token"}):
        result = _materialize(defs, ["raw_crm", "account"])
    assert not result.success
    kinds = [e.event_type_value for e in result.all_events]
    assert "STEP_FAILURE" in kinds
    # a wrong key does not get better by waiting: no retry was scheduled
    assert "STEP_UP_FOR_RETRY" not in kinds
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "SOURCES__CRM__ACCESS_TOKEN" in str(failure.event_specific_data)
    assert "not-the-token" not in str(failure.event_specific_data)
