"""Milestones 1-2: the three sources land `small` exactly, rerun idempotently, follow changes."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingestion.pipelines import SystemSummary, run_ingest
from sandbox.generator import advance
from sandbox.schema import SandboxPaths
from tests.ingestion.support import (
    KEYS,
    billing_truth,
    crm_truth,
    env_for,
    erp_truth,
    patched_env,
    raw_count,
    raw_keys,
    served,
    warehouse,
)

TRUTH = {"crm": crm_truth, "billing": billing_truth, "erp": erp_truth}


class Loaded:
    """A sandbox home, served, with its three systems ingested once."""

    def __init__(self, home: Path, first: list[SystemSummary]) -> None:
        self.home = home
        self.first = first
        self.runs: dict[str, list[SystemSummary]] = {}


def _open_invoices(home: Path) -> set[str]:
    con = sqlite3.connect(SandboxPaths.under(home).billing)
    try:
        return {r[0] for r in con.execute("select id from invoices where status = 'open'")}
    finally:
        con.close()


@pytest.fixture(scope="module")
def loaded(small_sandbox_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loaded]:
    home = tmp_path_factory.mktemp("ingest-home")
    shutil.copytree(small_sandbox_home / "sandbox", home / "sandbox")
    with served(home) as sandbox, patched_env(env_for(home, sandbox.urls)):
        state = Loaded(home, run_ingest())
        state.first_mismatches = _mismatches(home)  # type: ignore[attr-defined]
        state.runs["again"] = run_ingest()
        state.open_before = _open_invoices(home)  # type: ignore[attr-defined]
        advance(SandboxPaths.under(home), days=3)
        state.runs["advanced"] = run_ingest()
        yield state


def _mismatches(home: Path) -> list[str]:
    """How the raw tables differ from the sandbox's own data (empty when equal)."""
    problems = []
    con = warehouse(home)
    try:
        for system, truth_of in TRUTH.items():
            truth = truth_of(home)
            for table, cols in KEYS[system].items():
                qualified = f"raw_{system}.{table}"
                got = raw_keys(con, qualified, *cols)
                if raw_count(con, qualified) != len(got):
                    problems.append(f"{qualified}: duplicate keys")
                if system == "billing" and table == "events":
                    # Raw events are append-only: the API forgets them after 30 days, we do not.
                    if not truth[table] <= got:
                        problems.append(f"{qualified}: {len(truth[table] - got)} events missing")
                elif got != truth[table]:
                    problems.append(
                        f"{qualified}: {len(got - truth[table])} extra, "
                        f"{len(truth[table] - got)} missing"
                    )
    finally:
        con.close()
    return problems


def test_full_load_equals_the_sandbox(loaded: Loaded) -> None:
    assert loaded.first_mismatches == []  # type: ignore[attr-defined]
    assert [s.system for s in loaded.first] == ["crm", "billing", "erp"]
    loaded_rows = {(s.system, t.table): t.rows_loaded for s in loaded.first for t in s.tables}
    assert loaded_rows[("billing", "invoice_lines")] > loaded_rows[("billing", "invoices")]
    assert all(t.rows_rejected == 0 for s in loaded.first for t in s.tables)


def test_second_run_loads_nothing_new(loaded: Loaded) -> None:
    again = loaded.runs["again"]
    assert {
        (s.system, t.table): t.rows_loaded for s in again for t in s.tables if t.rows_loaded
    } == {}


def test_after_advance_raw_equals_the_sandbox(loaded: Loaded) -> None:
    assert _mismatches(loaded.home) == []


def test_advance_brings_inserts_updates_and_deletes(loaded: Loaded) -> None:
    advanced = {(s.system, t.table): t for s in loaded.runs["advanced"] for t in s.tables}
    assert advanced[("billing", "invoices")].rows_loaded > 0
    assert advanced[("billing", "events")].rows_loaded > 0
    # lost opportunities deleted in Salesforce arrive through queryAll and leave the raw table
    assert advanced[("crm", "opportunity")].rows_deleted > 0
    # an invoice that was open before is paid now, through the events stream
    now_paid = loaded.open_before - _open_invoices(loaded.home)  # type: ignore[attr-defined]
    assert now_paid, "the sandbox paid no open invoice in 3 days"
    con = warehouse(loaded.home)
    try:
        ids = ", ".join(f"'{i}'" for i in sorted(now_paid))
        statuses = dict(
            con.execute(
                f"select id, status from raw_billing.invoices where id in ({ids})"
            ).fetchall()
        )
    finally:
        con.close()
    truth = sqlite3.connect(SandboxPaths.under(loaded.home).billing)
    try:
        want = dict(
            truth.execute(f"select id, status from invoices where id in ({ids})").fetchall()
        )
    finally:
        truth.close()
    assert statuses == want
    assert "paid" in statuses.values()


def test_billing_changes_came_from_events_not_a_reload(loaded: Loaded) -> None:
    advanced = {(s.system, t.table): t for s in loaded.runs["advanced"] for t in s.tables}
    first = {(s.system, t.table): t for s in loaded.first for t in s.tables}
    # far fewer rows than a full reload would carry
    assert (
        advanced[("billing", "invoices")].rows_loaded
        < first[("billing", "invoices")].rows_loaded / 5
    )
