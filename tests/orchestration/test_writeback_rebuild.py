"""The write-back's rebuild and verify steps leave the whole reconciliation as it is after the
write: recon_exceptions, recon_in_transit, and the exception history with each verified
correction's exception `verified_closed`."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb

from closeloop.settings import Settings
from orchestration.defs.resources import CloseloopResource
from reverse_etl.ledger import Ledger
from tests.dbt.conftest import Built, copy_warehouse, query_rows
from tests.dbt.conftest import built as built  # the dbt suite's built warehouse (fixture)


def _rows(settings: Settings, sql: str) -> list[dict[str, Any]]:
    return query_rows(settings.duckdb_path, sql)


def _execute(settings: Settings, sql: str, params: list[Any] | None = None) -> None:
    con = duckdb.connect(str(settings.duckdb_path))
    try:
        con.execute(sql, params or [])
    finally:
        con.close()


def test_rebuild_refreshes_in_transit_and_verify_the_history(
    built: Built, tmp_path: Path, defs: Any
) -> None:
    # the assets load the dbt manifest when imported: the `defs` fixture parses the project first
    from orchestration.defs.writeback.assets import erp_writeback_rebuild, erp_writeback_verify

    settings = copy_warehouse(built, tmp_path)
    # a name the ERP holds wrong, which write-back corrected (the ledger says applied) and the
    # re-read landed (the raw ERP customer now has the right name)
    fixed = _rows(
        settings,
        "select exception_id, erp_id, correct_value from recon.recon_exceptions "
        "where exception_type = 'customer_attribute_mismatch' "
        "and lower(field_name) = 'companyname' order by exception_id limit 1",
    )[0]
    _execute(
        settings,
        "update raw_erp.customer set companyname = ? where cast(id as varchar) = ?",
        [fixed["correct_value"], fixed["erp_id"]],
    )
    with Ledger.open(settings) as ledger:
        ledger.wh.execute(
            "insert into writeback_ledger.items (correction_id, exception_id, status, "
            "approved_by, applied_at) values (?, ?, 'applied', 'policy:auto', ?)",
            ["corr-name", fixed["exception_id"], datetime.now(UTC)],
        )
    # what an earlier build left in transit is stale after the re-read
    _execute(
        settings,
        "insert into recon.recon_in_transit by name "
        "select 'stale-item' as exception_id, 'invoice_missing_in_erp' as exception_type",
    )

    result = dg.materialize(
        [erp_writeback_rebuild, erp_writeback_verify],
        resources={"closeloop": CloseloopResource(home=str(settings.home))},
    )
    assert result.success
    in_transit = {
        r["exception_id"]
        for r in _rows(settings, "select exception_id from recon.recon_in_transit")
    }
    expected = {
        r["exception_id"]
        for r in _rows(
            settings,
            "select exception_id from intermediate.int_recon_discrepancies where is_in_transit",
        )
    }
    assert "stale-item" not in in_transit and in_transit == expected
    open_ids = {r["exception_id"] for r in _rows(settings, "select * from recon.recon_exceptions")}
    assert fixed["exception_id"] not in open_ids
    with Ledger.open(settings) as ledger:
        assert ledger.statuses()["corr-name"] == "verified"
    history = _rows(
        settings,
        "select status, correction_status, closed_at from recon.recon_exception_history "
        f"where exception_id = '{fixed['exception_id']}'",
    )
    assert [(h["status"], h["correction_status"]) for h in history] == [
        ("verified_closed", "verified")
    ]
    assert history[0]["closed_at"] is not None
