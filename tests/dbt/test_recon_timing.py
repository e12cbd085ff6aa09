"""Timing versus error: an item inside its settlement window is in transit, not an exception,
and write-back never sees it; past its window the same item is an exception again."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from closeloop.settings import Settings
from tests.dbt.conftest import Built, copy_warehouse
from tests.dbt.scoring import settlement_windows
from transform import run_dbt


def _rows(settings: Settings, sql: str) -> list[dict[str, Any]]:
    con = duckdb.connect(str(settings.duckdb_path))
    try:
        cur = con.execute(sql)
        names = [d[0] for d in cur.description or []]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    finally:
        con.close()


def _recon_as_of(settings: Settings, at: datetime, target: Path) -> None:
    vars_ = json.dumps({"recon_as_of": at.isoformat(sep=" ")})
    outcome = run_dbt(
        ["run", "--select", "int_recon_clock", "int_recon_discrepancies+", "--exclude",
         "recon_exception_history+", "recon_exceptions_as_reported+", "--vars", vars_],
        settings,
        target_path=target,
    )  # fmt: skip
    assert outcome.success, outcome.errors


def _where(settings: Settings, exception_id: str) -> set[str]:
    found = set()
    for table in ("recon.recon_exceptions", "recon.recon_in_transit", "writeback.erp_corrections"):
        sql = f"select 1 from {table} where exception_id = '{exception_id}'"
        if _rows(settings, sql):
            found.add(table.split(".")[1])
    return found


def test_an_item_inside_its_window_is_in_transit_then_an_exception(
    built: Built, tmp_path: Path
) -> None:
    window = settlement_windows()["invoice_missing_in_erp"]
    assert window > 0
    settings = copy_warehouse(built, tmp_path)
    target = tmp_path / "target"
    # a missing invoice write-back would create (the built recon is past every window)
    item = _rows(
        settings,
        "select e.exception_id, e.detected_at from recon.recon_exceptions as e "
        "inner join writeback.erp_corrections as c on e.exception_id = c.exception_id "
        "where e.exception_type = 'invoice_missing_in_erp' order by e.detected_at limit 1",
    )[0]
    entered: datetime = item["detected_at"]

    # an hour after it entered: in transit, with its window, and nothing to write back
    _recon_as_of(settings, entered + timedelta(hours=1), target)
    assert _where(settings, item["exception_id"]) == {"recon_in_transit"}
    row = _rows(
        settings,
        f"select * from recon.recon_in_transit where exception_id = '{item['exception_id']}'",
    )[0]
    assert row["entered_at"] == entered
    assert row["settles_by_at"] == entered + timedelta(hours=window)
    assert row["window_hours"] == window
    month_end = (entered.replace(day=1) + timedelta(days=32)).replace(
        day=1, hour=0, minute=0, second=0, microsecond=0
    )
    assert row["period_end_at"] == month_end
    assert row["crosses_period_end"] == (entered + timedelta(hours=window) > month_end)

    # a second before its window ends it is still settling; from that instant on, an exception
    _recon_as_of(settings, entered + timedelta(hours=window, seconds=-1), target)
    assert _where(settings, item["exception_id"]) == {"recon_in_transit"}
    _recon_as_of(settings, entered + timedelta(hours=window), target)
    assert _where(settings, item["exception_id"]) == {"recon_exceptions", "erp_corrections"}


def test_a_type_without_a_window_is_never_in_transit(built: Built) -> None:
    windows = settlement_windows()
    listed = {r["exception_type"] for r in built.rows("select * from recon.recon_in_transit")}
    assert all(windows.get(t, 0) > 0 for t in listed)


def test_a_match_below_the_threshold_is_never_corrected_automatically(
    built: Built, tmp_path: Path
) -> None:
    settings = copy_warehouse(built, tmp_path)
    target = tmp_path / "target"
    # raise the threshold above every rule's confidence: each fuzzy match becomes a review item
    outcome = run_dbt(
        ["run", "--select", "customer_xref", "customer_xref_members", "int_recon_discrepancies+",
         "--exclude", "recon_exception_history+", "recon_exceptions_as_reported+",
         "--vars", json.dumps({"match_review_threshold": 0.99})],
        settings,
        target_path=target,
    )  # fmt: skip
    assert outcome.success, outcome.errors
    review = _rows(settings, "select * from core.customer_xref where needs_review")
    assert review and all(r["match_method"] == "fuzzy" for r in review)
    ids = {r[k] for r in review for k in ("crm_account_id", "billing_customer_id") if r[k]}
    invoices = _rows(
        settings,
        "select invoice_id from core.fct_invoice where billing_customer_id in "
        "(select billing_customer_id from core.customer_xref where needs_review)",
    )
    ids |= {r["invoice_id"] for r in invoices}
    exceptions = _rows(settings, "select * from recon.recon_exceptions")
    touched = [e for e in exceptions if e["crm_id"] in ids or e["billing_id"] in ids]
    # the built recon fixed some of them automatically; now a person approves every one
    before = {
        r["exception_id"]: r["requires_approval"]
        for r in built.rows("select exception_id, requires_approval from recon.recon_exceptions")
    }
    assert any(before[e["exception_id"]] is False for e in touched)
    assert touched and all(e["requires_approval"] for e in touched)
    touched_ids = {e["exception_id"] for e in touched}
    rows = _rows(settings, "select exception_id, requires_approval from writeback.erp_corrections")
    corrected = [r for r in rows if r["exception_id"] in touched_ids]
    assert corrected and all(r["requires_approval"] for r in corrected)
