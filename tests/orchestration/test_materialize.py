"""The whole graph materialized in-process against a served small sandbox: the loop closes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import pytest

from closeloop.settings import Settings
from sandbox.server import RunningSandbox
from tests.contract import EXCEPTION_TYPES


def _write_log(home: Path) -> int:
    import sqlite3

    from sandbox.schema import SandboxPaths

    con = sqlite3.connect(SandboxPaths.under(home).erp)
    try:
        return int(con.execute("select count(*) from _write_log").fetchone()[0])
    finally:
        con.close()


@pytest.mark.slow
def test_whole_graph_closes_the_loop(defs: Any, served_home: tuple[Path, RunningSandbox]) -> None:
    from orchestration.loop import run_loop

    home, _ = served_home
    settings = Settings.from_env()
    assert settings.home == home.resolve()
    steps: list[tuple[str, str, float | None]] = []
    with dg.DagsterInstance.ephemeral() as instance:
        summary = run_loop(
            settings, instance=instance, on_step=lambda *step: steps.append(tuple(step))
        )
        assert summary.success, summary.failures
        # the CLI's progress: one line per step as it ends, every step, each once
        assert sorted(s for s, _, _ in steps) == sorted(summary.stage_seconds)
        assert {outcome for _, outcome, _ in steps} == {"success"}
        assert summary.data_quality_issues == {}  # the classic sandbox links everything
        _assert_loop_closed(summary, home, settings)
        _assert_approval_then_apply(instance, summary, settings)


def _assert_loop_closed(summary: Any, home: Path, settings: Settings) -> None:
    assert set(summary.rows_landed) == {"raw_crm", "raw_billing", "raw_erp"}
    assert all(rows > 0 for rows in summary.rows_landed.values())
    models = [
        n
        for n in json.loads(
            (Path(__file__).parents[2] / "dbt_project/target/dagster/manifest.json").read_text()
        )["nodes"].values()
        if n["resource_type"] in ("model", "seed")  # seeds are tables the build makes too
    ]
    assert summary.models_built == len(models)
    assert summary.checks_passed > 50
    # the reconciliation found the sandbox's injected discrepancies, of the contract's types
    assert sum(summary.exceptions_by_type.values()) > 0
    assert set(summary.exceptions_by_type) & EXCEPTION_TYPES
    # corrections were written to the ERP, then verified after re-reading it
    applied = summary.corrections["applied"]
    assert applied > 0
    assert _write_log(home) >= applied
    assert summary.corrections["verified"] > 0
    assert summary.corrections["verified"] + summary.corrections["escalated"] >= applied
    with duckdb.connect(str(settings.duckdb_path)) as con:
        statuses = dict(
            con.execute("select status, count(*) from writeback_ledger.items group by 1").fetchall()
        )
        actors = {r[0] for r in con.execute("select actor from writeback_ledger.runs").fetchall()}
    assert statuses.get("verified", 0) == summary.corrections["verified"]
    # every ledger run written by this materialization names the Dagster run
    assert actors == {f"dagster:{summary.run_id}"}
    assert {"ingest_crm", "ingest_billing", "ingest_erp", "dbt_models"} <= set(
        summary.stage_seconds
    )


def _assert_approval_then_apply(
    instance: dg.DagsterInstance, summary: Any, settings: Settings
) -> None:
    from typer.testing import CliRunner

    from closeloop.cli import app
    from orchestration.defs.writeback.assets import APPLY_KEY, PLAN_KEY
    from orchestration.loop import run_loop

    plan = instance.get_latest_materialization_event(PLAN_KEY)
    assert plan is not None and plan.asset_materialization is not None
    metadata = plan.asset_materialization.metadata
    waiting = metadata["awaiting_approval"].value.records
    assert metadata["rows_needing_approval"].value == summary.corrections["needing_approval"]
    if not waiting:
        return
    # an operator approves one from the CLI; the next apply writes it
    chosen = waiting[0].data["correction_id"]
    approved = CliRunner().invoke(
        app, ["writeback", "approve", chosen, "--approver", "ops@example.com"]
    )
    assert approved.exit_code == 0, approved.output
    again = run_loop(
        settings, instance=instance, selection=dg.AssetSelection.assets(APPLY_KEY).downstream()
    )
    assert again.success, again.failures
    assert again.corrections["applied"] >= 1
    with duckdb.connect(str(settings.duckdb_path)) as con:
        row = con.execute(
            "select status, approved_by from writeback_ledger.items where correction_id = ?",
            [chosen],
        ).fetchone()
    assert row is not None
    assert row[0] in ("applied", "verified", "escalated")
    assert row[1] == "ops@example.com"
