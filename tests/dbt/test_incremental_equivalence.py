"""Incremental models (docs/models.md, Incremental models): after the sandbox moves on and the
landing takes inserts, updates and deletes, an incremental `dbt run` leaves every core, kpi,
recon, ops, writeback and intermediate table exactly as a `--full-refresh` on the same landing
does, row for row."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb

from tests.dbt.conftest import Built
from tests.ingestion.support import env_for, patched_env, served

# the schemas whose tables are compared; every table in them is, except these: insert-only
# history (a full refresh starts it again) and the incremental models' own bookkeeping
SCHEMAS = ("core", "kpi", "recon", "ops", "writeback", "intermediate")
NOT_COMPARED = {"recon_exception_history"}


def _tables(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str]]:
    rows = con.execute(
        "select table_schema, table_name from information_schema.tables "
        f"where table_type = 'BASE TABLE' and table_schema in {SCHEMAS} order by 1, 2"
    ).fetchall()
    return [
        (s, t)
        for s, t in rows
        if t not in NOT_COMPARED and not t.endswith(("__changes", "__state"))
    ]


def _alter_landing(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Deletes and late changes as ingestion lands them, on records built before: rows gone
    from the raw tables (a NetSuite deletion merges away the transaction with its lines and
    links; a deleted Stripe invoice goes with its lines), and an ERP rate corrected in place.
    Returns how many rows each change touched."""
    erp_invoice = con.execute(
        "select cast(erp_invoice_id as bigint) from core.fct_invoice "
        "where erp_invoice_id is not null order by invoice_id limit 1"
    ).fetchone()
    billing_invoice = con.execute(
        "select invoice_id from core.fct_invoice where finalized_at is not null "
        "and invoice_id in (select invoice_id from core.fct_invoice_line) "
        "order by invoice_id desc limit 1"
    ).fetchone()
    payment = con.execute(
        "select cast(erp_payment_id as bigint) from core.fct_payment "
        "where erp_payment_id is not null order by payment_id limit 1"
    ).fetchone()
    # the rate a non-USD invoice was converted at
    rate = con.execute(
        "select rates.id from raw_erp.currencyrate as rates "
        "inner join raw_erp.currency as currencies on rates.transactioncurrency = currencies.id "
        "inner join core.fct_invoice as invoices "
        "on invoices.rate_effective_date = rates.effectivedate "
        "and upper(invoices.currency_code) = upper(currencies.symbol) "
        "where invoices.currency_code <> 'USD' order by rates.id limit 1"
    ).fetchone()
    assert erp_invoice and billing_invoice and payment and rate
    touched: dict[str, int] = {}

    def run(name: str, sql: str, *params: object) -> None:
        cur = con.execute(sql, list(params))
        touched[name] = touched.get(name, 0) + int((cur.fetchone() or [0])[0])

    for doc in (erp_invoice[0], payment[0]):
        run("erp lines", "delete from raw_erp.transactionline where transaction = ?", doc)
        run(
            "erp links",
            "delete from raw_erp.previoustransactionlink where previousdoc = ? or nextdoc = ?",
            doc,
            doc,
        )
        run("erp transactions", "delete from raw_erp.transaction where id = ?", doc)
    invoice = billing_invoice[0]
    run("billing lines", "delete from raw_billing.invoice_lines where invoice = ?", invoice)
    run("billing invoices", "delete from raw_billing.invoices where id = ?", invoice)
    run(
        "erp rates",
        "update raw_erp.currencyrate set exchangerate = exchangerate * 1.01 where id = ?",
        rate[0],
    )
    return touched


def _snapshot(con: duckdb.DuckDBPyConnection, tables: list[tuple[str, str]]) -> None:
    con.execute("create schema if not exists incremental_snapshot")
    for schema, table in tables:
        con.execute(
            f"create or replace table incremental_snapshot.{schema}__{table} as "
            f"select * from {schema}.{table}"
        )


def _differences(con: duckdb.DuckDBPyConnection, tables: list[tuple[str, str]]) -> list[str]:
    """Tables whose rows differ from the snapshot, either way (as multisets)."""
    found = []
    for schema, table in tables:
        columns = ", ".join(
            f'"{c}"'
            for (c,) in con.execute(
                "select column_name from information_schema.columns "
                "where table_schema = ? and table_name = ? order by ordinal_position",
                [schema, table],
            ).fetchall()
        )
        snapshot = f"incremental_snapshot.{schema}__{table}"
        live = f"{schema}.{table}"
        only = [
            con.execute(
                f"select count(*) from (select {columns} from {a} except all "
                f"select {columns} from {b}) as d"
            ).fetchone()
            for a, b in ((snapshot, live), (live, snapshot))
        ]
        incremental_only, full_only = (int(r[0]) if r else 0 for r in only)
        if incremental_only or full_only:
            found.append(
                f"{live}: {incremental_only} rows only in the incremental build, "
                f"{full_only} only in the full refresh"
            )
    return found


def test_incremental_build_equals_a_full_refresh(built: Built, tmp_path: Path) -> None:
    from ingestion.pipelines import run_ingest
    from sandbox.generator import advance
    from sandbox.schema import SandboxPaths

    # a copy of the session's full build (the warehouse with its WAL, and the sandbox)
    home = tmp_path / "home"
    shutil.copytree(built.home, home, ignore=shutil.ignore_patterns("dbt-target"))
    copy = Built(home, tmp_path / "dbt-target", built.build)
    before = copy.rows(
        "select (select count(*) from core.fct_invoice) as invoices, "
        "(select count(*) from core.fct_payment) as payments"
    )[0]

    # the company moves on three days (new and changed records, CRM deletions), is landed,
    # then deletions and a late rate correction reach records built before
    advance(SandboxPaths.under(home), days=3)
    with (
        served(home) as sandbox,
        patched_env(env_for(home, {k: str(v) for k, v in sandbox.urls.items()})),
    ):
        run_ingest(settings=copy.settings)
    con = duckdb.connect(str(copy.settings.duckdb_path))
    try:
        touched = _alter_landing(con)
    finally:
        con.close()
    assert all(touched.values()), touched

    incremental = copy.dbt("run")
    assert incremental.success, incremental.failures
    con = duckdb.connect(str(copy.settings.duckdb_path))
    try:
        tables = _tables(con)
        assert {"fct_invoice", "fct_invoice_line", "int_revenue_recognized_months"} <= {
            t for _, t in tables
        }
        _snapshot(con, tables)
        after = con.execute(
            "select (select count(*) from core.fct_invoice), "
            "(select count(*) from core.fct_payment)"
        ).fetchone()
    finally:
        con.close()
    # the advance added invoices and payments: the incremental run had something to build
    assert after and after[0] > before["invoices"] and after[1] > before["payments"]

    # the incremental models and everything built from them, from scratch; the other tables are
    # full rebuilds of the same landing in both runs
    full = copy.dbt("run", "--full-refresh", "--select", "config.materialized:incremental+")
    assert full.success, full.failures
    con = duckdb.connect(str(copy.settings.duckdb_path))
    try:
        assert _differences(con, tables) == []
    finally:
        con.close()
