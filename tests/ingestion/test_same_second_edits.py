"""An edit stamped in the same second as the last row a run landed is not skipped.

Last-modified stamps have one-second resolution (NetSuite's `lastmodifieddate`, Salesforce's
`SystemModstamp`), so a record can be landed and then edited again within its stamp's second.
The next run reads that second again (`>=`) and must land the edit, while still leaving out
the rows it landed unchanged (a run with no changes loads nothing).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

import httpx
import pyarrow as pa

from ingestion.cursor import load_seen, past_cursor, save_seen
from ingestion.pipelines import run_system
from sandbox.defaults import SANDBOX_DEFAULT_TOKENS
from sandbox.schema import SandboxPaths
from tests.ingestion.support import env_for, patched_env, served, warehouse

R = "/services/rest/record/v1"


def _open_invoice(home: Path) -> int:
    con = sqlite3.connect(f"file:{SandboxPaths.under(home).erp}?mode=ro", uri=True)
    try:
        row = con.execute(
            'select t.id from "transaction" t join accountingperiod p on p.id = t.postingperiod'
            " where t.type = 'CustInvc' and p.closed = 'F' order by t.id limit 1"
        ).fetchone()
    finally:
        con.close()
    assert row, "the small sandbox has an invoice in an open period"
    return int(row[0])


def _landed(home: Path, rid: int) -> tuple[str | None, object]:
    con = warehouse(home)
    try:
        row = con.execute(
            "select memo, lastmodifieddate from raw_erp.transaction where id = ?", [rid]
        ).fetchone()
    finally:
        con.close()
    assert row is not None
    return row[0], row[1]


def _transaction_rows(summary: object) -> int:
    return sum(t.rows_loaded for t in summary.tables if t.table == "transaction")  # type: ignore[attr-defined]


def test_an_edit_in_the_second_the_last_run_ended_on_is_landed(sandbox_home: Path) -> None:
    home = sandbox_home
    rid = _open_invoice(home)
    headers = {"Authorization": f"Bearer {SANDBOX_DEFAULT_TOKENS['erp']}"}
    with served(home) as sandbox, patched_env(env_for(home, sandbox.urls)):
        run_system("erp")
        with httpx.Client(base_url=sandbox.urls["erp"], headers=headers, timeout=30) as erp:
            r = erp.patch(f"{R}/invoice/{rid}", json={"memo": "first edit"})
            assert r.status_code == 204, r.text
            first = run_system("erp")
            memo, stamp = _landed(home, rid)
            assert memo == "first edit"
            assert _transaction_rows(first) >= 1

            r = erp.patch(f"{R}/invoice/{rid}", json={"memo": "second edit"})
            assert r.status_code == 204, r.text
            second = run_system("erp")
            memo, stamp_again = _landed(home, rid)
        # the premise: both edits carry the same stamp (the run's cursor second)
        assert stamp_again == stamp
        assert memo == "second edit"
        assert _transaction_rows(second) == 1
        # and a run with nothing changed still lands nothing
        idle = run_system("erp")
        assert _transaction_rows(idle) == 0


def _batch(*rows: tuple[str, int, str]) -> pa.Table:
    return pa.table(
        {
            "id": [r[0] for r in rows],
            "modified": [dt.datetime(2026, 1, 1, 0, 0, r[1]) for r in rows],
            "memo": [r[2] for r in rows],
        }
    )


def test_rows_at_the_cursor_are_left_out_only_when_unchanged() -> None:
    first, newest, seen = past_cursor(
        _batch(("a", 1, "x"), ("b", 2, "x"), ("c", 2, "x")), "modified", ("id",), None, {},
        None, {},
    )  # fmt: skip
    assert first.num_rows == 3
    assert newest == dt.datetime(2026, 1, 1, 0, 0, 2) and set(seen) == {"b", "c"}
    state: dict[str, object] = {}
    save_seen(state, newest, seen)
    floor, floor_seen = load_seen(state)
    assert (floor, floor_seen) == (newest, seen)
    # the next run reads second 2 again: b unchanged, c edited, d new in that second
    again, newest2, seen2 = past_cursor(
        _batch(("b", 2, "x"), ("c", 2, "edited"), ("d", 2, "x")), "modified", ("id",), floor,
        floor_seen, floor, dict(floor_seen),
    )  # fmt: skip
    assert again.column("id").to_pylist() == ["c", "d"]
    assert newest2 == floor
    assert set(seen2) == {"b", "c", "d"} and seen2["c"] != seen["c"]
    # a state written before fingerprints (keys only): the rows are landed again, once
    legacy, newest3, seen3 = past_cursor(
        _batch(("b", 2, "x"), ("c", 2, "x")), "modified", ("id",), floor,
        load_seen({"cursor": floor.isoformat(), "ids": ["b", "c"]})[1], floor, {},
    )  # fmt: skip
    assert legacy.num_rows == 2
    assert newest3 == floor and all(seen3.values())
    # rows before the cursor are never landed again
    older, _, _ = past_cursor(
        _batch(("a", 1, "changed")), "modified", ("id",), floor, floor_seen, floor, {}
    )
    assert older.num_rows == 0
