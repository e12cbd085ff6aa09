"""Exceptions as tracked work: history kept across runs, owners, acceptances, closing paths."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from closeloop.exceptions import ExceptionWorkError, list_exceptions, record_action
from closeloop.settings import Settings
from reverse_etl.ledger import Ledger
from tests.dbt.conftest import Built, copy_warehouse
from transform import run_dbt


def _rows(settings: Settings, sql: str) -> list[dict[str, Any]]:
    con = duckdb.connect(str(settings.duckdb_path))
    try:
        cur = con.execute(sql)
        names = [d[0] for d in cur.description or []]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    finally:
        con.close()


def _history(settings: Settings) -> dict[str, dict[str, Any]]:
    rows = _rows(settings, "select * from recon.recon_exception_history")
    return {r["exception_id"]: r for r in rows}


def test_history_follows_each_exception_from_open_to_closed(built: Built, tmp_path: Path) -> None:
    settings = copy_warehouse(built, tmp_path)
    target = tmp_path / "target"
    current = _rows(settings, "select exception_id, exception_type from recon.recon_exceptions")
    as_of = _rows(settings, "select max(as_of_at) as t from intermediate.int_recon_clock")[0]["t"]
    history = _history(settings)
    # every exception listed now is in the history, open, first and last seen at the as-of
    assert {r["exception_id"] for r in current} == set(history)
    assert {h["status"] for h in history.values()} == {"open"}
    assert all(h["first_seen_at"] == as_of == h["last_seen_at"] for h in history.values())

    ids = sorted(history)[:3]
    corrected, accepted, vanished = ids
    record_action(settings, [corrected, accepted], "assign", actor="lead", owner="ana",
                  target_path=target)  # fmt: skip
    record_action(settings, [accepted], "accept", actor="controller",
                  reason="timing: clears in November", target_path=target)  # fmt: skip
    with pytest.raises(ExceptionWorkError, match="unknown exception id"):
        record_action(settings, ["not-an-id"], "assign", owner="ana", target_path=target)
    with pytest.raises(ExceptionWorkError, match="reason"):
        record_action(settings, [corrected], "accept", reason=" ", target_path=target)

    # write-back corrects one; then two leave recon (the corrected one and one nobody touched)
    ledger = Ledger.open(settings)
    try:
        ledger.wh.execute(
            "insert into writeback_ledger.items (correction_id, exception_id, status, "
            "approved_by, applied_at, verified_at) values (?, ?, ?, ?, ?, ?)",
            ["corr-1", corrected, "verified", "cfo", datetime.now(UTC), datetime.now(UTC)],
        )
        ledger.wh.execute(
            "insert into writeback_ledger.attempts (attempt_id, correction_id, attempt_no, method, "
            "path, before, after, result, http_status, approver) "
            "values (?, ?, 1, 'PATCH', ?, ?, ?, 'applied', 204, ?)",
            [
                "att-1",
                "corr-1",
                "/services/rest/record/v1/invoice/7",
                '{"status.id": "A"}',
                '{"status.id": "B"}',
                "cfo",
            ],
        )
    finally:
        ledger.wh.close()
    con = duckdb.connect(str(settings.duckdb_path))
    try:
        con.execute(
            "delete from recon.recon_exceptions where exception_id in (?, ?)", [corrected, vanished]
        )
    finally:
        con.close()
    # a --full-refresh does not forget the history
    assert run_dbt(
        ["run", "--full-refresh", "--select", "recon_exception_history"],
        settings,
        target_path=target,
    ).success
    history = _history(settings)
    assert history[corrected]["status"] == "verified_closed"
    assert history[corrected]["approved_by"] == "cfo"
    assert history[corrected]["owner"] == "ana"
    assert history[corrected]["closed_at"] == as_of
    assert history[vanished]["status"] == "closed"
    assert history[accepted]["status"] == "accepted"
    assert history[accepted]["accepted_by"] == "controller"
    assert history[accepted]["accepted_reason"] == "timing: clears in November"
    assert history[accepted]["is_open"]

    # one query answers for a correction: the exception, the rule, before/after, approver,
    # request and response, verification (recon.correction_evidence, a view over the ledger)
    assert run_dbt(["run", "--select", "correction_evidence"], settings, target_path=target).success
    evidence = _rows(
        settings, "select * from recon.correction_evidence where correction_id = 'corr-1'"
    )
    assert len(evidence) == 1
    row = evidence[0]
    assert (row["exception_id"], row["exception_status"]) == (corrected, "verified_closed")
    assert (row["approved_by"], row["http_status"], row["attempt_result"]) == (
        "cfo",
        204,
        "applied",
    )
    assert row["request_method"] == "PATCH" and row["verified_at"] is not None
    assert '"B"' in row["erp_after"] and row["correction_status"] == "verified"

    # the CLI's list: open work only by default, everything with --all
    rows, counts = list_exceptions(settings, limit=10_000)
    listed = {r["exception_id"] for r in rows}
    assert corrected not in listed and vanished not in listed and accepted not in listed
    assert counts["verified_closed"] == 1 and counts["closed"] == 1 and counts["accepted"] == 1
    everything, _ = list_exceptions(settings, include_closed=True, limit=10_000)
    assert {corrected, vanished, accepted} <= {r["exception_id"] for r in everything}

    # an acceptance is undone only with a reason; the vanished one comes back when recon does
    record_action(settings, [accepted], "reopen", actor="cfo", reason="not timing after all",
                  target_path=target)  # fmt: skip
    assert run_dbt(
        ["run", "--select", "recon_exceptions", "recon_exception_history"],
        settings,
        target_path=target,
    ).success
    history = _history(settings)
    assert history[accepted]["status"] == "open"
    assert history[vanished]["status"] == "open"
    assert history[vanished]["reopened_count"] == 1
    assert history[vanished]["first_seen_at"] == as_of
