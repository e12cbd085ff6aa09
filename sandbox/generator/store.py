"""Batched writes of the simulation's rows into the three SQLite databases."""

from __future__ import annotations

import queue
import sqlite3
import threading
from collections.abc import Sequence
from typing import Any

import orjson

from sandbox import schema

BATCH = 5_000

_BILLING_COLS = {
    "customers": ("id", "created", "deleted", "email", "doc"),
    "products": ("id", "created", "active", "doc"),
    "prices": ("id", "created", "product", "active", "currency", "doc"),
    "subscriptions": ("id", "created", "customer", "status", "price", "doc"),
    "invoices": ("id", "created", "customer", "subscription", "status", "doc"),
    "invoice_lines": ("invoice", "seq", "id", "doc"),
    "charges": ("id", "created", "customer", "invoice", "payment_intent", "doc"),
    "payment_intents": ("id", "created", "customer", "invoice", "doc"),
    "refunds": ("id", "created", "charge", "payment_intent", "doc"),
    "credit_notes": ("id", "created", "customer", "invoice", "doc"),
    "events": ("id", "created", "type", "doc"),
}
CRM_COLS = {obj: tuple(name for name, _ in fields) for obj, fields in schema.CRM_FIELDS.items()}
ERP_COLS = {t: tuple(name for name, _ in fields) for t, fields in schema.ERP_FIELDS.items()}


def dumps_bytes(doc: dict[str, Any]) -> bytes:
    """Compact JSON bytes of a document."""
    return orjson.dumps(doc)


def dumps(doc: dict[str, Any]) -> str:
    """Compact JSON text of a document (insertion order kept: deterministic)."""
    return orjson.dumps(doc).decode()


def _insert_sql(table: str, cols: Sequence[str], verb: str) -> str:
    names = ", ".join(f'"{c}"' for c in cols)
    marks = ", ".join("?" for _ in cols)
    return f'{verb} into "{table}" ({names}) values ({marks})'


class Store:
    """Open connections to the three databases and buffered inserts into their tables."""

    def __init__(self, paths: schema.SandboxPaths, *, bulk: bool) -> None:
        self.paths = paths
        self.crm = schema.connect(paths.crm)
        self.billing = schema.connect(paths.billing)
        self.erp = schema.connect(paths.erp)
        self.bulk = bulk
        self._dropped: list[tuple[sqlite3.Connection, str]] = []
        if bulk:
            # a fresh build is all-or-nothing: no journal, no fsync (WAL is restored on close),
            # and secondary indexes are built once at the end instead of row by row
            for con, cache_mb in ((self.crm, 64), (self.billing, 256), (self.erp, 128)):
                con.execute("pragma journal_mode=off")
                con.execute("pragma synchronous=off")
                con.execute(f"pragma cache_size=-{cache_mb * 1000}")
                for name, sql in con.execute(
                    "select name, sql from sqlite_master where type = 'index' and sql is not null"
                    " order by name"
                ).fetchall():
                    con.execute(f'drop index "{name}"')
                    self._dropped.append((con, sql))
        self._buf: dict[tuple[str, str], list[list[Any]]] = {}
        # SQLite releases the GIL while it writes: a writer thread overlaps the inserts
        # with the simulation (one thread, so each table's batches stay in order)
        self._q: queue.Queue[tuple[sqlite3.Connection, str, list[list[Any]]] | None] = queue.Queue(
            maxsize=8
        )
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._writer, name="sandbox-writer", daemon=True)
        self._thread.start()

    def _writer(self) -> None:
        while True:
            job = self._q.get()
            try:
                if job is None:
                    return
                con, sql, rows = job
                if self._error is None:
                    con.executemany(sql, rows)
            except BaseException as exc:  # re-raised in the simulating thread
                self._error = exc
            finally:
                self._q.task_done()

    def _add(self, db: str, table: str, row: list[Any]) -> None:
        buf = self._buf.setdefault((db, table), [])
        buf.append(row)
        if len(buf) >= BATCH:
            self._flush_one(db, table)

    def billing_row(self, table: str, row: dict[str, Any]) -> None:
        """Upsert a billing row; `doc` may be a dict (serialized here)."""
        doc = row.get("doc")
        if isinstance(doc, dict):
            row = {**row, "doc": dumps(doc)}
        self._add("billing", table, [row[c] for c in _BILLING_COLS[table]])

    def crm_row(self, obj: str, row: dict[str, Any]) -> None:
        """Upsert a CRM row (all fields of the object)."""
        self._add("crm", obj, [row.get(c) for c in CRM_COLS[obj]])

    def erp_row(self, table: str, row: dict[str, Any]) -> None:
        """Insert an ERP row (never replaces: the ERP API may have written to it)."""
        self._add("erp", table, [row.get(c) for c in ERP_COLS[table]])

    def erp_values(self, table: str, values: list[Any]) -> None:
        """Insert an ERP row given as values in `ERP_FIELDS` column order (hot paths)."""
        self._add("erp", table, values)

    def _flush_one(self, db: str, table: str) -> None:
        rows = self._buf.pop((db, table), None)
        if not rows:
            return
        if db == "billing":
            con, sql = self.billing, _insert_sql(table, _BILLING_COLS[table], "insert or replace")
        elif db == "crm":
            con, sql = self.crm, _insert_sql(table, CRM_COLS[table], "insert or replace")
        else:
            con, sql = self.erp, _insert_sql(table, ERP_COLS[table], "insert or ignore")
        if self._error is not None:
            raise self._error
        self._q.put((con, sql, rows))

    def flush(self) -> None:
        """Write every buffered row (and wait until they are in the databases)."""
        for db, table in sorted(self._buf):
            self._flush_one(db, table)
        self._q.join()
        if self._error is not None:
            raise self._error

    def commit(self) -> None:
        """Flush and commit all three databases."""
        self.flush()
        for con in (self.crm, self.billing, self.erp):
            con.commit()

    def close(self) -> None:
        """Commit and close."""
        self.commit()
        self._q.put(None)
        self._thread.join()
        for con, sql in self._dropped:
            con.execute(sql)
        for con in (self.crm, self.billing, self.erp):
            con.commit()
            if self.bulk:
                con.execute("pragma journal_mode=wal")
            con.close()

    def counts(self) -> dict[str, int]:
        """Rows per table across the three databases (bookkeeping tables excluded)."""
        self.flush()
        out: dict[str, int] = {}
        for con in (self.crm, self.billing, self.erp):
            names = [
                r[0]
                for r in con.execute(
                    "select name from sqlite_master where type='table' and name not like '\\_%'"
                    " escape '\\' and name not like 'sqlite%' order by name"
                )
            ]
            for name in names:
                out[name] = con.execute(f'select count(*) from "{name}"').fetchone()[0]
        return out


def erp_max_id(con: sqlite3.Connection, table: str, col: str = "id") -> int:
    """Highest id in an ERP table (0 when empty)."""
    row = con.execute(f'select max("{col}") from "{table}"').fetchone()
    return int(row[0] or 0)
