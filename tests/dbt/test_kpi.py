"""Milestone 3: kpi_monthly ties out with the sandbox's ledger to the cent."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import pytest

from tests.dbt.conftest import Built
from tests.dbt.tieout import TIED_METRICS, compare, load_ledger
from tests.ingestion.support import env_for, patched_env, served


def test_kpis_equal_the_ledger_to_the_cent(built: Built) -> None:
    ledger = load_ledger(built.home)
    rows = built.rows("select * from kpi.kpi_monthly")
    differences = compare(rows, ledger)
    figures = Counter(r["metric"] for r in ledger if r["metric"] in TIED_METRICS)
    wrong = Counter(d.metric for d in differences)
    print()
    for metric in TIED_METRICS:
        print(f"{metric:18} {figures[metric]:4d} ledger rows, {wrong[metric]} differing figures")
    assert differences == []
    assert set(figures) == set(TIED_METRICS)


def test_mrr_movements_roll_forward(built: Built) -> None:
    rows = built.rows(
        "select currency_code, month_start, mrr, mrr_new + mrr_expansion + mrr_contraction "
        "+ mrr_churn + mrr_reactivation as moved from kpi.kpi_monthly "
        "where currency_code <> 'ALL' order by 1, 2"
    )
    previous: dict[str, object] = {}
    for r in rows:
        assert previous.get(r["currency_code"], 0) + r["moved"] == r["mrr"]
        previous[r["currency_code"]] = r["mrr"]


@pytest.mark.slow
def test_incremental_invoice_lines_equal_a_full_refresh(built: Built, tmp_path: Path) -> None:
    """After the sandbox moves on (new, changed and voided invoices) and billing is re-read, the
    incremental `fct_invoice_line` equals a full refresh, row for row."""
    from ingestion.pipelines import run_ingest
    from sandbox.generator import advance
    from sandbox.schema import SandboxPaths

    # a copy of the session's build (the warehouse file with its WAL, and the sandbox)
    home = tmp_path / "home"
    shutil.copytree(built.home, home, ignore=shutil.ignore_patterns("dbt-target"))
    copy = Built(home, tmp_path / "dbt-target", built.build)
    query = "select * from core.fct_invoice_line order by invoice_line_id"
    assert copy.dbt("run", "--select", "+fct_invoice_line").success
    before = copy.rows(query)
    advance(SandboxPaths.under(home), days=5)
    with served(home) as sandbox, patched_env(env_for(home, sandbox.urls)):
        run_ingest(["billing"], copy.settings)
    incremental = copy.dbt("run", "--select", "fct_invoice_line")
    assert incremental.success, incremental.failures
    after = copy.rows(query)
    assert len(after) > len(before)  # the advance added lines: the test has something to test
    full = copy.dbt("run", "--select", "fct_invoice_line", "--full-refresh")
    assert full.success, full.failures
    assert copy.rows(query) == after
