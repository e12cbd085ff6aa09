"""`closeloop writeback plan|approve|apply|verify|status` against a served ERP sandbox, with
`erp_corrections` and `recon_exceptions` tables in the warehouse shaped as the dbt contract."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from typer.testing import CliRunner

from closeloop.cli import app
from closeloop.settings import Settings
from reverse_etl.client import dumps
from reverse_etl.corrections import CONTRACT_COLUMNS, Correction
from tests.reverse_etl.support import TOKEN, erp_db, erp_served, truth_corrections, write_log_count

runner = CliRunner()


def load_corrections(warehouse: Path, corrections: list[Correction]) -> None:
    """What dbt's `erp_corrections` model holds, one row per correction."""
    con = duckdb.connect(str(warehouse))
    con.execute("create schema if not exists writeback")
    con.execute(
        "create or replace table writeback.erp_corrections (correction_id varchar, "
        "exception_id varchar, exception_type varchar, record_type varchar, action varchar, "
        "erp_id varchar, external_id varchar, field varchar, current_value varchar, "
        "desired_value varchar, payload varchar, amount_delta_usd decimal(18, 2), "
        "requires_approval boolean, detected_at timestamp, record_field varchar)"
    )
    for c in corrections:
        row = [getattr(c, col) for col in (*CONTRACT_COLUMNS, "record_field")]
        row[CONTRACT_COLUMNS.index("payload")] = None if c.payload is None else dumps(c.payload)
        con.execute(f"insert into writeback.erp_corrections values ({', '.join('?' * 15)})", row)
    con.close()


@pytest.fixture
def served_home(sandbox_home: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    with erp_served(sandbox_home) as (url, _):
        monkeypatch.setenv("CLOSELOOP_HOME", str(sandbox_home))
        monkeypatch.setenv("SOURCES__ERP__BASE_URL", url)
        monkeypatch.setenv("SOURCES__ERP__ACCESS_TOKEN", TOKEN)
        monkeypatch.delenv("CLOSELOOP_APPROVER", raising=False)
        yield sandbox_home


def test_plan_approve_apply_verify(served_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    warehouse = Settings.from_env().duckdb_path
    corrections = truth_corrections(served_home, closed=False)
    load_corrections(warehouse, corrections)
    before = write_log_count(served_home)

    planned = runner.invoke(app, ["writeback", "plan", "--show", "0"])
    assert planned.exit_code == 0, planned.output
    assert "dry run: nothing written" in planned.output and "approval" in planned.output
    assert write_log_count(served_home) == before

    # approval needs a named approver
    no_one = runner.invoke(
        app, ["writeback", "approve", "--all-of-type", "invoice_duplicate_in_erp"]
    )
    assert no_one.exit_code == 2 and "no approver" in no_one.output

    applied = runner.invoke(app, ["writeback", "apply"])
    assert applied.exit_code == 0, applied.output
    auto = write_log_count(served_home) - before
    duplicates = [c for c in corrections if c.exception_type == "invoice_duplicate_in_erp"]
    assert auto > 0 and duplicates
    for c in duplicates:  # still there: they wait for approval
        assert (
            erp_db(served_home)
            .execute('select count(*) from "transaction" where id = ?', (int(c.erp_id or 0),))
            .fetchone()[0]
            == 1
        )

    monkeypatch.setenv("CLOSELOOP_APPROVER", "bob@example.com")
    approved = runner.invoke(
        app, ["writeback", "approve", "--all-of-type", "invoice_duplicate_in_erp"]
    )
    assert approved.exit_code == 0, approved.output
    assert f"{len(duplicates)} correction(s) approved by bob@example.com" in approved.output
    again = runner.invoke(app, ["writeback", "apply"])
    assert again.exit_code == 0, again.output
    assert write_log_count(served_home) - before == auto + len(duplicates)
    for c in duplicates:
        assert (
            erp_db(served_home)
            .execute('select count(*) from "transaction" where id = ?', (int(c.erp_id or 0),))
            .fetchone()[0]
            == 0
        )

    # after re-ingestion and dbt, one exception is still open: it is escalated
    con = duckdb.connect(str(warehouse))
    con.execute("create schema if not exists recon")
    con.execute("create or replace table recon.recon_exceptions (exception_id varchar)")
    con.execute("insert into recon.recon_exceptions values (?)", [duplicates[0].exception_id])
    approvers = con.execute(
        "select distinct approved_by from writeback_ledger.approvals"
    ).fetchall()
    con.close()
    assert approvers == [("bob@example.com",)]
    verified = runner.invoke(app, ["writeback", "verify"])
    assert verified.exit_code == 0, verified.output
    n_applied = sum(
        1 for c in corrections if c.exception_type != "invoice_currency_mismatch"
    )  # the currency fix still waits for approval
    assert f"{n_applied - 1} verified, 1 escalated" in verified.output
    status = runner.invoke(app, ["writeback", "status"])
    assert "awaiting_approval" in status.output and "escalated" in status.output


def test_invalid_policy_and_missing_model_are_clear_errors(
    served_home: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "policy.yml"
    bad.write_text("version: 1\nrecord_types: {}\ncorrections: {x: maybe}\nlimits: {}\n")
    result = runner.invoke(app, ["writeback", "plan", "--policy", str(bad)])
    assert result.exit_code == 2
    assert f"{bad}:3: corrections.x: mode 'maybe'" in " ".join(result.output.split())
    missing = runner.invoke(app, ["writeback", "plan"])
    assert missing.exit_code == 1 and "no erp_corrections model" in missing.output
