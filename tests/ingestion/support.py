"""Helpers of the ingestion tests: serve a sandbox, point dlt at it, read both sides back."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb

from closeloop.settings import HOME_ENV, SOURCE_ENV, WAREHOUSE_ENV, Settings, source_env_values
from sandbox.defaults import SANDBOX_DEFAULT_TOKENS
from sandbox.schema import SandboxPaths
from sandbox.server import RunningSandbox, ServeOptions, running
from transform import patched_env as patched_env  # the one helper, kept importable here

#: (base URL, credential) variable of each system (the settings' names).
TOKEN_ENV = SOURCE_ENV
TRANSACTION_TYPES = ("CustInvc", "CustPymt", "CustCred", "CustRfnd")


def env_for(
    home: Path, urls: dict[str, str], tokens: dict[str, str] | None = None
) -> dict[str, str]:
    """Environment variables pointing closeloop and dlt at a served sandbox."""
    env = {HOME_ENV: str(home), WAREHOUSE_ENV: "duckdb"}
    env.update(source_env_values(urls, tokens or SANDBOX_DEFAULT_TOKENS))
    return env


@contextlib.contextmanager
def served(home: Path, **options: Any) -> Iterator[RunningSandbox]:
    """Serve the sandbox under `home` on free ports with the default tokens."""
    opts = ServeOptions(
        ports={"crm": 0, "billing": 0, "erp": 0},
        tokens=dict(SANDBOX_DEFAULT_TOKENS),
        **options,
    )
    with running(SandboxPaths.under(home), opts) as sandbox:
        yield sandbox


def warehouse(home: Path) -> duckdb.DuckDBPyConnection:
    """A read connection to the DuckDB file under `home`."""
    path = Settings.from_env({HOME_ENV: str(home)}).duckdb_path
    return duckdb.connect(str(path), read_only=True)


def raw_keys(con: duckdb.DuckDBPyConnection, table: str, *cols: str) -> set[tuple[Any, ...]]:
    """The key tuples of a raw table."""
    sel = ", ".join(cols)
    return {tuple(r) for r in con.execute(f"select {sel} from {table}").fetchall()}


def raw_count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    row = con.execute(f"select count(*) from {table}").fetchone()
    assert row is not None
    return int(row[0])


# --- the sandbox's own data, straight from its SQLite files -----------------------------------


def _sqlite(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


CRM_OBJECTS = {
    "account": "Account",
    "contact": "Contact",
    "product2": "Product2",
    "contract": "Contract",
    "opportunity": "Opportunity",
    "opportunity_line_item": "OpportunityLineItem",
}


def crm_truth(home: Path) -> dict[str, set[tuple[Any, ...]]]:
    """Live (not deleted) Ids per CRM table."""
    con = _sqlite(SandboxPaths.under(home).crm)
    try:
        return {
            table: {(r[0],) for r in con.execute(f'select "Id" from "{obj}" where "IsDeleted" = 0')}
            for table, obj in CRM_OBJECTS.items()
        }
    finally:
        con.close()


def billing_truth(home: Path) -> dict[str, set[tuple[Any, ...]]]:
    """Keys per billing table as the API serves them (deleted customers gone)."""
    paths = SandboxPaths.under(home)
    con = _sqlite(paths.billing)
    try:
        out: dict[str, set[tuple[Any, ...]]] = {}
        for table in (
            "products", "prices", "subscriptions", "invoices", "charges",
            "payment_intents", "refunds", "credit_notes",
        ):  # fmt: skip
            out[table] = {(r[0],) for r in con.execute(f"select id from {table}")}
        out["customers"] = {
            (r[0],) for r in con.execute("select id from customers where deleted = 0")
        }
        out["invoice_lines"] = {
            tuple(r) for r in con.execute("select invoice, id from invoice_lines")
        }
        items: set[tuple[Any, ...]] = set()
        for (doc,) in con.execute("select doc from subscriptions"):
            sub = json.loads(doc)
            for item in (sub.get("items") or {}).get("data") or []:
                items.add((sub["id"], item["id"]))
        out["subscription_items"] = items
        out["events"] = {(r[0],) for r in con.execute("select id from events")}
        return out
    finally:
        con.close()


def erp_truth(home: Path) -> dict[str, set[tuple[Any, ...]]]:
    """Keys per ERP table (transactions of the landed types and their lines)."""
    con = _sqlite(SandboxPaths.under(home).erp)
    types = ", ".join(f"'{t}'" for t in TRANSACTION_TYPES)
    try:
        out = {
            t: {(int(r[0]),) for r in con.execute(f'select id from "{t}"')}
            for t in (
                "subsidiary",
                "currency",
                "currencyrate",
                "accountingperiod",
                "customer",
                "item",
            )
        }
        out["transaction"] = {
            (int(r[0]),)
            for r in con.execute(f'select id from "transaction" where type in ({types})')
        }
        out["transactionline"] = {
            (int(r[0]),)
            for r in con.execute(
                'select l.uniquekey from transactionline l join "transaction" t '
                f'on t.id = l."transaction" where t.type in ({types})'
            )
        }
        out["previoustransactionlink"] = {
            (int(r[0]), int(r[1]))
            for r in con.execute("select previousdoc, nextdoc from previoustransactionlink")
        }
        return out
    finally:
        con.close()


KEYS = {
    "crm": {t: ("id",) for t in CRM_OBJECTS},
    "billing": {
        **{
            t: ("id",)
            for t in (
                "customers",
                "products",
                "prices",
                "subscriptions",
                "invoices",
                "charges",
                "payment_intents",
                "refunds",
                "credit_notes",
                "events",
            )
        },
        "invoice_lines": ("invoice", "id"),
        "subscription_items": ("subscription", "id"),
    },
    "erp": {
        **{
            t: ("id",)
            for t in (
                "subsidiary",
                "currency",
                "currencyrate",
                "accountingperiod",
                "customer",
                "item",
                "transaction",
            )
        },
        "transactionline": ("uniquekey",),
        "previoustransactionlink": ("previousdoc", "nextdoc"),
    },
}


def snapshot(home: Path, system: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every raw table of a system (without dlt's load ids), sorted: for equality."""
    con = warehouse(home)
    try:
        out = {}
        for table in KEYS[system]:
            cols = [
                r[0]
                for r in con.execute(
                    "select column_name from information_schema.columns "
                    "where table_schema = ? and table_name = ? order by column_name",
                    [f"raw_{system}", table],
                ).fetchall()
                if not r[0].startswith("_dlt")
            ]
            if not cols:
                continue  # not landed by this run
            sel = ", ".join(f'"{c}"' for c in cols)
            rows = con.execute(f"select {sel} from raw_{system}.{table}").fetchall()
            out[table] = sorted(rows, key=repr)
        return out
    finally:
        con.close()


def assert_raw_erp_equals_the_erp(home: Path) -> None:
    """Every ERP table's keys in the landing equal the sandbox ERP's."""
    truth = erp_truth(home)
    con = warehouse(home)
    try:
        for table, cols in KEYS["erp"].items():
            assert raw_keys(con, f"raw_erp.{table}", *cols) == truth[table], table
    finally:
        con.close()
