"""Period close: a closed month's figures stay as reported while later builds restate them."""

from __future__ import annotations

import shutil
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from closeloop.close import CloseError, close_period, reopen_period
from closeloop.settings import Settings
from tests.dbt.conftest import Built, copy_warehouse
from transform import run_dbt

# what a restatement rebuilds: the KPIs from the changed facts, and the close's views; in full,
# since the change is made in the raw table without the vendor's change event the incremental
# facts read (the frozen closes are full_refresh: false)
REBUILD = [
    "run",
    "--full-refresh",
    "--select",
    "+kpi_monthly",
    "kpi_monthly_restated",
    "kpi_restatement_documents",
]


def _rows(settings: Settings, sql: str) -> list[dict[str, Any]]:
    con = duckdb.connect(str(settings.duckdb_path))
    try:
        cur = con.execute(sql)
        names = [d[0] for d in cur.description or []]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    finally:
        con.close()


def _kpis(settings: Settings, table: str, month: str) -> dict[str, dict[str, Any]]:
    rows = _rows(settings, f"select * from kpi.{table} where month_start = date '{month}-01'")
    return {r["currency_code"]: r for r in rows}


def test_a_closed_month_keeps_its_figures_and_shows_the_restatement(
    built: Built, tmp_path: Path
) -> None:
    settings = copy_warehouse(built, tmp_path)
    target = tmp_path / "target"
    # a month that is over, with billings: the invoice we will change later is one of its own
    invoice = _rows(
        settings,
        "select invoice_id, currency_code, cast(date_trunc('month', finalized_at) as date) as m "
        "from core.fct_invoice where invoice_status = 'paid' and currency_code = 'USD' "
        "and finalized_at < (select max(month_start) from kpi.kpi_monthly) "
        "order by finalized_at desc limit 1",
    )[0]
    month = invoice["m"].strftime("%Y-%m")
    before = _kpis(settings, "kpi_monthly", month)

    with pytest.raises(CloseError, match="not over"):
        last = _rows(settings, "select max(month_start) as m from kpi.kpi_monthly")[0]["m"]
        close_period(settings, last.strftime("%Y-%m"), "controller", target)
    with pytest.raises(CloseError, match="YYYY-MM"):
        close_period(settings, "2026-13", "controller", target)

    close_period(settings, month, "controller", target)
    reported = _kpis(settings, "kpi_monthly_as_reported", month)
    assert set(reported) == set(before)
    for currency, row in before.items():
        for column in ("billings", "collections", "mrr", "open_ar", "billings_usd", "mrr_usd"):
            assert reported[currency][column] == row[column], (currency, column)
    assert reported["USD"]["close_id"].startswith(month + "/")
    exceptions = _rows(settings, "select count(*) as n from recon.recon_exceptions")[0]["n"]
    frozen = _rows(settings, "select count(*) as n from recon.recon_exceptions_as_reported")
    assert frozen[0]["n"] == exceptions
    with pytest.raises(CloseError, match="already closed"):
        close_period(settings, month, "controller", target)

    # a document of the closed month changes afterwards (10.00 more), and the next build restates
    con = duckdb.connect(str(settings.duckdb_path))
    try:
        con.execute(
            "update raw_billing.invoices set total = total + 1000, subtotal = subtotal + 1000, "
            "amount_due = amount_due + 1000, amount_paid = amount_paid + 1000 where id = ?",
            [invoice["invoice_id"]],
        )
    finally:
        con.close()
    assert run_dbt(REBUILD, settings, target_path=target).success
    after = _kpis(settings, "kpi_monthly", month)
    assert after["USD"]["billings"] == before["USD"]["billings"] + Decimal("10.00")
    # as reported: unchanged, also through a --full-refresh
    assert run_dbt(["run", "--full-refresh", "--select", "frozen_kpi_values"], settings).success
    assert (
        _kpis(settings, "kpi_monthly_as_reported", month)["USD"]["billings"]
        == (before["USD"]["billings"])
    )
    restated = {
        r["metric"]: r
        for r in _rows(
            settings,
            f"select * from kpi.kpi_monthly_restated where month_start = date '{month}-01' "
            "and currency_code = 'USD'",
        )
    }
    assert restated["billings"]["is_restated"]
    assert restated["billings"]["as_reported"] == before["USD"]["billings"]
    assert restated["billings"]["difference"] == Decimal("10.00")
    assert not restated["refunds"]["is_restated"]
    documents = _rows(
        settings,
        f"select * from kpi.kpi_restatement_documents where month_start = date '{month}-01'",
    )
    changed = [d for d in documents if d["document_id"] == invoice["invoice_id"]]
    assert [(d["change_type"], d["amount_difference"]) for d in changed] == [
        ("changed", Decimal("10.000"))
    ]

    # reopening is explicit, needs a reason, and is on record; closing again freezes anew
    with pytest.raises(CloseError, match="reason"):
        reopen_period(settings, month, " ", "controller", target)
    reopen_period(settings, month, "late invoice correction", "cfo", target)
    assert _kpis(settings, "kpi_monthly_as_reported", month) == {}
    close_period(settings, month, "controller", target)
    assert (
        _kpis(settings, "kpi_monthly_as_reported", month)["USD"]["billings"]
        == (after["USD"]["billings"])
    )
    log = _rows(settings, "select * from period_close.period_log order by recorded_at")
    assert [(r["action"], r["actor"], r["reason"]) for r in log] == [
        ("close", "controller", ""),
        ("reopen", "cfo", "late invoice correction"),
        ("close", "controller", ""),
    ]


@pytest.mark.slow
def test_close_then_the_sandbox_moves_on_and_a_new_run_restates_beside_it(
    built: Built, tmp_path: Path
) -> None:
    """`closeloop close --period`, then `sandbox advance` and a new run (ingest and build): the
    closed month's as-reported figures are unchanged, and the restatement shows beside them."""
    from ingestion.pipelines import run_ingest
    from sandbox.generator import advance
    from sandbox.schema import SandboxPaths
    from tests.ingestion.support import env_for, patched_env, served

    home = tmp_path / "home"
    shutil.copytree(built.home, home, ignore=shutil.ignore_patterns("dbt-target"))
    settings = Settings.from_env({"CLOSELOOP_HOME": str(home)})
    target = tmp_path / "target"
    as_of = _rows(settings, "select max(as_of_at) as t from intermediate.int_recon_clock")[0]["t"]
    month = (as_of.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")  # the last month over
    before = _kpis(settings, "kpi_monthly", month)
    close_period(settings, month, "controller", target)
    reported = _kpis(settings, "kpi_monthly_as_reported", month)
    assert set(reported) == set(before)

    advance(SandboxPaths.under(home), days=5)
    with served(home) as sandbox, patched_env(env_for(home, sandbox.urls)):
        run_ingest(["crm", "billing", "erp"], settings)
    rebuilt = run_dbt(["run"], settings, target_path=target)
    assert rebuilt.success, rebuilt.errors
    assert (
        _rows(settings, "select max(as_of_at) as t from intermediate.int_recon_clock")[0]["t"]
        > as_of
    )  # the new run sees the days that passed

    assert _kpis(settings, "kpi_monthly_as_reported", month) == reported
    now = _kpis(settings, "kpi_monthly", month)
    restated = _rows(
        settings,
        f"select * from kpi.kpi_monthly_restated where month_start = date '{month}-01'",
    )
    assert {r["currency_code"] for r in restated} == set(reported)
    for r in restated:
        figure = reported[r["currency_code"]][r["metric"]]
        assert r["as_reported"] == figure, r
        assert r["restated"] == now[r["currency_code"]][r["metric"]], r
        if figure is not None and r["restated"] is not None:
            assert r["difference"] == r["restated"] - figure, r
            assert r["is_restated"] == (r["difference"] != 0), r
    log = _rows(settings, "select action, actor from period_close.period_log")
    assert log == [{"action": "close", "actor": "controller"}]
