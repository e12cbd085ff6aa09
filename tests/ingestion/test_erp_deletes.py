"""ERP deletions reach the warehouse: records deleted through NetSuite's record API are read
from `deletedrecord` on the next run and leave raw_erp with their lines and links."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from ingestion.pipelines import SystemSummary, run_system
from sandbox.defaults import SANDBOX_DEFAULT_TOKENS
from sandbox.schema import SandboxPaths
from tests.ingestion.support import (
    KEYS,
    env_for,
    erp_truth,
    patched_env,
    raw_keys,
    served,
    warehouse,
)

R = "/services/rest/record/v1"


@dataclass
class Deleted:
    """What the test deleted between two ERP runs, and what the runs saw."""

    home: Path
    invoice: int = 0
    invoice_lines: set[tuple[Any, ...]] = field(default_factory=set)
    payment: int = 0
    payment_lines: set[tuple[Any, ...]] = field(default_factory=set)
    payment_links: set[tuple[Any, ...]] = field(default_factory=set)
    customer: int = 0
    before: dict[str, set[tuple[Any, ...]]] = field(default_factory=dict)
    runs: list[SystemSummary] = field(default_factory=list)


def _duplicate_invoice(home: Path) -> int:
    """A duplicate invoice of the ground truth that the ERP lets us delete (open period,
    nothing applied to it)."""
    paths = SandboxPaths.under(home)
    dupes = [
        int(rec["erp_id"])
        for rec in map(json.loads, paths.ground_truth.read_text().splitlines())
        if rec["exception_type"] == "invoice_duplicate_in_erp"
    ]
    con = sqlite3.connect(paths.erp)
    try:
        for rid in dupes:
            row = con.execute(
                'select p.closed from "transaction" t join accountingperiod p '
                "on p.id = t.postingperiod where t.id = ? and not exists "
                "(select 1 from previoustransactionlink l where l.previousdoc = t.id)",
                (rid,),
            ).fetchone()
            if row is not None and row[0] != "T":
                return rid
    finally:
        con.close()
    raise AssertionError("no deletable duplicate invoice in the small sandbox")


def _open_invoice(home: Path, not_id: int) -> tuple[int, int]:
    """(invoice id, customer id) of an open USD invoice in an open period."""
    con = sqlite3.connect(SandboxPaths.under(home).erp)
    try:
        row = con.execute(
            'select t.id, t.entity from "transaction" t join accountingperiod p '
            "on p.id = t.postingperiod where t.type = 'CustInvc' and t.status = 'A' "
            "and p.closed = 'F' and t.id <> ? and t.currency = 1 order by t.id desc limit 1",
            (not_id,),
        ).fetchone()
    finally:
        con.close()
    assert row is not None
    return int(row[0]), int(row[1])


def _created(r: httpx.Response) -> int:
    assert r.status_code == 204, r.text
    return int(r.headers["location"].rsplit("/", 1)[1])


def _raw(home: Path, sql: str) -> set[tuple[Any, ...]]:
    con = warehouse(home)
    try:
        return {tuple(r) for r in con.execute(sql).fetchall()}
    finally:
        con.close()


@pytest.fixture(scope="module")
def deleted(
    small_sandbox_home: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deleted]:
    home = tmp_path_factory.mktemp("erp-deletes")
    shutil.copytree(small_sandbox_home / "sandbox", home / "sandbox")
    state = Deleted(home)
    with served(home) as sandbox, patched_env(env_for(home, sandbox.urls)):
        headers = {"Authorization": f"Bearer {SANDBOX_DEFAULT_TOKENS['erp']}"}
        with httpx.Client(base_url=sandbox.urls["erp"], headers=headers, timeout=30) as erp:
            # Records that exist when the first run lands them, deleted before the second.
            state.invoice = _duplicate_invoice(home)
            paid, customer = _open_invoice(home, state.invoice)
            body = (
                f'{{"customer": {{"id": "{customer}"}}, "payment": 1.00, "apply": {{"items": '
                f'[{{"doc": {{"id": "{paid}"}}, "amount": 1.00}}]}}}}'
            )
            state.payment = _created(erp.post(f"{R}/customerpayment", content=body.encode()))
            state.customer = _created(
                erp.post(f"{R}/customer", json={"companyName": "Gone", "subsidiary": {"id": "1"}})
            )
            state.runs.append(run_system("erp"))
            state.before = {
                "transaction": _raw(home, "select id from raw_erp.transaction"),
                "customer": _raw(home, "select id from raw_erp.customer"),
            }
            lines = "select uniquekey from raw_erp.transactionline where transaction = "
            state.invoice_lines = _raw(home, f"{lines}{state.invoice}")
            state.payment_lines = _raw(home, f"{lines}{state.payment}")
            state.payment_links = _raw(
                home,
                "select previousdoc, nextdoc from raw_erp.previoustransactionlink "
                f"where nextdoc = {state.payment}",
            )
            for path in (
                f"{R}/invoice/{state.invoice}",
                f"{R}/customerpayment/{state.payment}",
                f"{R}/customer/{state.customer}",
            ):
                assert erp.delete(path).status_code == 204, path
        state.runs.append(run_system("erp"))
        state.runs.append(run_system("erp"))
    yield state


def test_the_first_run_landed_what_is_deleted_later(deleted: Deleted) -> None:
    assert (deleted.invoice,) in deleted.before["transaction"]
    assert (deleted.payment,) in deleted.before["transaction"]
    assert (deleted.customer,) in deleted.before["customer"]
    assert deleted.invoice_lines, "the duplicate invoice landed without lines"
    assert len(deleted.payment_links) == 1 and deleted.payment_lines


def test_deleted_invoice_leaves_raw_with_its_lines(deleted: Deleted) -> None:
    home = deleted.home
    assert _raw(home, f"select id from raw_erp.transaction where id = {deleted.invoice}") == set()
    keys = ", ".join(str(k[0]) for k in deleted.invoice_lines)
    assert _raw(home, f"select 1 from raw_erp.transactionline where uniquekey in ({keys})") == set()
    # nothing else went: exactly the three deleted records are missing
    after = _raw(home, "select id from raw_erp.transaction")
    assert deleted.before["transaction"] - after == {(deleted.invoice,), (deleted.payment,)}


def test_deleted_payment_and_customer_leave_raw(deleted: Deleted) -> None:
    home = deleted.home
    assert _raw(home, f"select id from raw_erp.customer where id = {deleted.customer}") == set()
    keys = ", ".join(str(k[0]) for k in deleted.payment_lines)
    assert _raw(home, f"select 1 from raw_erp.transactionline where uniquekey in ({keys})") == set()
    links = _raw(home, "select previousdoc, nextdoc from raw_erp.previoustransactionlink")
    assert not links & deleted.payment_links


def test_raw_erp_equals_the_erp_after_deletes(deleted: Deleted) -> None:
    truth = erp_truth(deleted.home)
    con = warehouse(deleted.home)
    try:
        for table, cols in KEYS["erp"].items():
            assert raw_keys(con, f"raw_erp.{table}", *cols) == truth[table], table
        listed = raw_keys(con, "raw_erp.deletedrecord", "recordtypeid", "recordid")
    finally:
        con.close()
    assert listed == {
        ("invoice", deleted.invoice),
        ("customerpayment", deleted.payment),
        ("customer", deleted.customer),
    }


def test_deletes_are_counted_once(deleted: Deleted) -> None:
    second = {t.table: t.rows_deleted for t in deleted.runs[1].tables if t.rows_deleted}
    assert second["transaction"] == 2 and second["customer"] == 1
    assert second["transactionline"] == len(deleted.invoice_lines | deleted.payment_lines)
    assert second["previoustransactionlink"] == 1
    # the third run has nothing new to delete
    assert not [t for t in deleted.runs[2].tables if t.rows_deleted]
