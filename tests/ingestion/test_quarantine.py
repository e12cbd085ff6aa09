"""Milestone 4: bad records are quarantined with a reason, new fields evolve the schema."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Any

import orjson
import pytest

from ingestion.pipelines import SystemSummary, run_system
from sandbox.schema import SandboxPaths
from tests.ingestion.support import env_for, patched_env, served, warehouse


def _edit_doc(con: sqlite3.Connection, table: str, id_: str, **changes: Any) -> None:
    (doc,) = con.execute(f"select doc from {table} where id = ?", (id_,)).fetchone()
    obj = orjson.loads(doc)
    obj.update(changes)
    con.execute(f"update {table} set doc = ? where id = ?", (orjson.dumps(obj).decode(), id_))


class Spoiled:
    """A small sandbox with known bad records, ingested once."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.summaries: dict[str, SystemSummary] = {}
        self.bad: dict[str, str] = {}


@pytest.fixture(scope="module")
def spoiled(small_sandbox_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Spoiled:
    home = tmp_path_factory.mktemp("spoiled")
    shutil.copytree(small_sandbox_home / "sandbox", home / "sandbox")
    paths = SandboxPaths.under(home)
    state = Spoiled(home)
    billing = sqlite3.connect(paths.billing)
    with billing:
        newest, older = (
            r[0]
            for r in billing.execute(
                "select id from customers where deleted = 0 order by created desc, id desc limit 2"
            )
        )
        # A field never seen before (an integer), then the same field as text on an older
        # customer (listed later): the schema evolves, the type change is quarantined.
        _edit_doc(billing, "customers", newest, loyalty_points=10)
        _edit_doc(billing, "customers", older, loyalty_points="ten")
        (invoice,) = billing.execute("select id from invoices order by created limit 1").fetchone()
        _edit_doc(billing, "invoices", invoice, amount_due="12.50")
    billing.close()
    erp = sqlite3.connect(paths.erp)
    with erp:
        bad_date, bad_amount = (
            r[0]
            for r in erp.execute(
                "select id from \"transaction\" where type = 'CustInvc' order by id limit 2"
            )
        )
        erp.execute('update "transaction" set trandate = ? where id = ?', ("2025-13-45", bad_date))
        erp.execute('update "transaction" set foreigntotal = ? where id = ?', ("12,50", bad_amount))
        # NetSuite omits NULL columns: a link without its previousdoc arrives without the key.
        erp.execute(
            "insert into previoustransactionlink (previousdoc, nextdoc, linktype, foreignamount,"
            " lastmodifieddate) values (null, ?, 'Payment', '1.00', '2026-10-01 00:00:00')",
            (bad_date,),
        )
    erp.close()
    state.bad = {
        "type_change": older,
        "new_field": newest,
        "bad_amount_stripe": invoice,
        "bad_date": str(bad_date),
        "bad_amount_erp": str(bad_amount),
    }
    with served(home) as sandbox, patched_env(env_for(home, sandbox.urls)):
        state.summaries["billing"] = run_system("billing", resources=["customers", "invoices"])
        state.summaries["erp"] = run_system(
            "erp", resources=["transaction", "previoustransactionlink"]
        )
    return state


def _quarantine(home: Path, system: str) -> list[tuple[str, str | None, str]]:
    con = warehouse(home)
    try:
        return con.execute(
            f"select table_name, record_id, reason from raw_{system}.quarantine order by 1, 2"
        ).fetchall()
    finally:
        con.close()


def test_billing_bad_rows_are_quarantined_with_reasons(spoiled: Spoiled) -> None:
    rows = _quarantine(spoiled.home, "billing")
    by_id = {rid: (table, reason) for table, rid, reason in rows}
    assert len(rows) == 2
    table, reason = by_id[spoiled.bad["type_change"]]
    assert table == "customers" and "loyalty_points changed type from bigint to text" in reason
    table, reason = by_id[spoiled.bad["bad_amount_stripe"]]
    assert table == "invoices" and "amount_due" in reason and "'12.50'" in reason


def test_erp_bad_rows_are_quarantined_with_reasons(spoiled: Spoiled) -> None:
    rows = _quarantine(spoiled.home, "erp")
    assert len(rows) == 3
    reasons = {(t, rid): reason for t, rid, reason in rows}
    assert "trandate" in reasons[("transaction", spoiled.bad["bad_date"])]
    assert "foreigntotal" in reasons[("transaction", spoiled.bad["bad_amount_erp"])]
    missing = [r for (t, _), r in reasons.items() if t == "previoustransactionlink"]
    assert missing == ["missing primary key field previousdoc"]


def test_bad_rows_stay_out_and_good_rows_land(spoiled: Spoiled) -> None:
    con = warehouse(spoiled.home)
    try:
        ids = {r[0] for r in con.execute("select id from raw_billing.customers").fetchall()}
        inv = {r[0] for r in con.execute("select id from raw_billing.invoices").fetchall()}
        txn = {str(r[0]) for r in con.execute("select id from raw_erp.transaction").fetchall()}
    finally:
        con.close()
    assert spoiled.bad["type_change"] not in ids and spoiled.bad["new_field"] in ids
    assert spoiled.bad["bad_amount_stripe"] not in inv
    assert spoiled.bad["bad_date"] not in txn and spoiled.bad["bad_amount_erp"] not in txn
    truth = sqlite3.connect(SandboxPaths.under(spoiled.home).billing)
    try:
        (n_customers,) = truth.execute(
            "select count(*) from customers where deleted = 0"
        ).fetchone()
    finally:
        truth.close()
    assert len(ids) == n_customers - 1


def test_a_new_field_evolves_the_schema(spoiled: Spoiled) -> None:
    con = warehouse(spoiled.home)
    try:
        value = con.execute(
            "select loyalty_points from raw_billing.customers where id = ?",
            [spoiled.bad["new_field"]],
        ).fetchone()
        kind = con.execute(
            "select data_type from information_schema.columns where table_schema = 'raw_billing'"
            " and table_name = 'customers' and column_name = 'loyalty_points'"
        ).fetchone()
    finally:
        con.close()
    assert value == (10,)
    assert kind == ("BIGINT",)


def test_the_summary_counts_the_rejects(spoiled: Spoiled) -> None:
    billing = {t.table: t for t in spoiled.summaries["billing"].tables}
    erp = {t.table: t for t in spoiled.summaries["erp"].tables}
    assert billing["customers"].rows_rejected == 1
    assert billing["invoices"].rows_rejected == 1
    assert erp["transaction"].rows_rejected == 2
    assert erp["previoustransactionlink"].rows_rejected == 1
    assert spoiled.summaries["billing"].rows_rejected == 2
    assert spoiled.summaries["erp"].rows_rejected == 3
