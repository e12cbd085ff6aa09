"""Batched writes of the simulation's rows into the three SQLite databases.

The simulation is one Python thread and keeps a core busy; the SQLite work (binding, B-tree
inserts, index builds) and the rendering of the bulkiest rows (invoice, payment intent and
charge documents, ERP invoice and payment postings: see `render`) run in two writer
processes, one for billing.sqlite and one for crm.sqlite and erp.sqlite, so they use the
other core without fighting the simulation for the GIL. Each database's statements travel
through one ordered pipe, so its writer applies them in the order the simulation issued them
(an `insert or replace` later in the stream wins, an update follows the insert it changes),
and a `query` sees everything issued before it.
"""

from __future__ import annotations

import os
import pickle
import queue
import resource
import subprocess
import sys
import threading
import traceback
from collections.abc import Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import orjson

from sandbox import schema
from sandbox.generator.profile import CLASSIC, Profile
from sandbox.generator.render import render_jobs
from sandbox.generator.stripe_docs import PriceBook

#: rows per executemany, and bytes of documents per batch (keeps the pipe's backlog bounded)
BATCH = 5_000
BATCH_BYTES = 4_000_000
#: batches the writer process may hold before the simulation waits for it
BACKLOG = 48

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

_CACHE_MB = {"crm": 64, "billing": 256, "erp": 128}


def dumps_bytes(doc: dict[str, Any]) -> bytes:
    """Compact JSON bytes of a document."""
    return orjson.dumps(doc)


def dumps(doc: dict[str, Any]) -> str:
    """Compact JSON text of a document (insertion order kept: deterministic)."""
    return orjson.dumps(doc).decode()


def _insert_sql(db: str, table: str) -> str:
    if db == "billing":
        cols, verb = _BILLING_COLS[table], "insert or replace"
    elif db == "crm":
        cols, verb = CRM_COLS[table], "insert or replace"
    else:
        cols, verb = ERP_COLS[table], "insert or ignore"
    names = ", ".join(f'"{c}"' for c in cols)
    marks = ["?" for _ in cols]
    if db == "billing":
        # documents arrive as UTF-8 JSON bytes: SQLite stores them as TEXT (the same value
        # as binding the decoded str) without a decode in either process
        marks[-1] = "cast(? as text)"
    return f'{verb} into "{table}" ({names}) values ({", ".join(marks)})'


def _serve(
    paths: schema.SandboxPaths,
    dbs: Sequence[str],
    bulk: bool,
    inbox: Connection,
    outbox: Connection,
) -> None:
    """A writer process: apply the statements for its databases in order, answer queries."""
    try:
        cons = {db: schema.connect(getattr(paths, db)) for db in dbs}
        dropped: list[tuple[str, str]] = []
        if bulk:
            # a fresh build is all-or-nothing: no journal, no fsync (WAL is restored on close),
            # and secondary indexes are built once at the end instead of row by row
            for db, con in cons.items():
                con.execute("pragma journal_mode=off")
                con.execute("pragma synchronous=off")
                con.execute(f"pragma cache_size=-{_CACHE_MB[db] * 1000}")
                for name, sql in con.execute(
                    "select name, sql from sqlite_master where type = 'index' and sql is not null"
                    " order by name"
                ).fetchall():
                    con.execute(f'drop index "{name}"')
                    dropped.append((db, sql))
        # a reader thread drains the pipe while SQLite works (it waits in recv without the
        # GIL), so the simulation can run ahead by up to BACKLOG batches
        backlog: queue.Queue[bytes | None] = queue.Queue(maxsize=BACKLOG)

        def read() -> None:
            try:
                while True:
                    backlog.put(inbox.recv_bytes())
            except (EOFError, OSError):
                backlog.put(None)

        threading.Thread(target=read, name="sandbox-writer-reader", daemon=True).start()
        sqls: dict[tuple[str, str], str] = {}
        book: PriceBook | None = None
        while True:
            raw = backlog.get()
            if raw is None:
                return  # the simulation went away without closing: nothing to finish
            op = pickle.loads(raw)
            kind = op[0]
            if kind == "rows":
                _, db, table, rows = op
                sql = sqls.get((db, table))
                if sql is None:
                    sql = sqls[(db, table)] = _insert_sql(db, table)
                cons[db].executemany(sql, rows)
            elif kind == "jobs":
                assert book is not None, "the price book comes first"
                for (db, table), rows in render_jobs(book, op[1]).items():
                    sql = sqls.get((db, table))
                    if sql is None:
                        sql = sqls[(db, table)] = _insert_sql(db, table)
                    cons[db].executemany(sql, rows)
            elif kind == "book":
                book = PriceBook(op[1], op[2], op[3])
            elif kind == "exec":
                cons[op[1]].execute(op[2], op[3])
            elif kind == "query":
                rows = cons[op[1]].execute(op[2], op[3]).fetchall()
                outbox.send_bytes(pickle.dumps(("ok", rows), protocol=pickle.HIGHEST_PROTOCOL))
            elif kind == "commit":
                for con in cons.values():
                    con.commit()
                outbox.send_bytes(pickle.dumps(("ok", None)))
            elif kind == "close":
                for con in cons.values():
                    con.commit()
                for db, sql in dropped:
                    cons[db].execute(sql)
                for con in cons.values():
                    con.commit()
                    if bulk:
                        con.execute("pragma journal_mode=wal")
                    con.close()
                # the peak memory of this process, for the caller's report (KiB on Linux)
                peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                outbox.send_bytes(pickle.dumps(("ok", peak)))
                return
    except BaseException:  # reported to the simulation, which raises it
        try:
            outbox.send_bytes(pickle.dumps(("error", traceback.format_exc())))
        finally:
            os._exit(1)  # also ends the reader thread, so the simulation's sends fail fast


def _child(argv: list[str]) -> None:
    """Entry point of a writer process: `inbox_fd outbox_fd root bulk db[,db...]`."""
    inbox = Connection(int(argv[0]), writable=False)
    outbox = Connection(int(argv[1]), readable=False)
    paths = schema.SandboxPaths(Path(argv[2]))
    _serve(paths, argv[4].split(","), argv[3] == "1", inbox, outbox)


class WriterError(RuntimeError):
    """The writer process failed (its traceback is the message)."""


class _Writer:
    """One writer process and the two pipes to it."""

    def __init__(self, paths: schema.SandboxPaths, dbs: Sequence[str], bulk: bool) -> None:
        # a plain subprocess rather than multiprocessing: "spawn" would re-run the caller's
        # main script and "fork" is unsafe in a process with threads (test servers)
        inbox_r, inbox_w = os.pipe()
        outbox_r, outbox_w = os.pipe()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import sys; from sandbox.generator.store import _child; _child(sys.argv[1:])",
                str(inbox_r),
                str(outbox_w),
                str(paths.root.resolve()),
                "1" if bulk else "0",
                ",".join(dbs),
            ],
            pass_fds=(inbox_r, outbox_w),
            env=env,
            stdin=subprocess.DEVNULL,
        )
        os.close(inbox_r)
        os.close(outbox_w)
        self.inbox = Connection(inbox_w, readable=False)
        self.outbox = Connection(outbox_r, writable=False)
        self.jobs: list[tuple[Any, ...]] = []
        self.jobs_bytes = 0

    def send(self, op: tuple[Any, ...]) -> None:
        try:
            self.inbox.send_bytes(pickle.dumps(op, protocol=pickle.HIGHEST_PROTOCOL))
        except (BrokenPipeError, OSError):
            self._raise_failure()

    def reply(self) -> Any:
        try:
            status, value = pickle.loads(self.outbox.recv_bytes())
        except (EOFError, OSError):
            self._raise_failure()
        if status == "error":
            raise WriterError(value)
        return value

    def _raise_failure(self) -> None:
        detail = "the sandbox writer process ended unexpectedly"
        try:
            if self.outbox.poll(5):
                status, value = pickle.loads(self.outbox.recv_bytes())
                if status == "error":
                    detail = value
        except (EOFError, OSError):
            pass
        raise WriterError(detail)

    def flush_jobs(self) -> None:
        if self.jobs:
            jobs, self.jobs, self.jobs_bytes = self.jobs, [], 0
            self.send(("jobs", jobs))

    def finish(self) -> int:
        try:
            peak: int = self.reply()
            return peak
        finally:
            self.inbox.close()
            self.proc.wait()
            self.outbox.close()

    def abort(self) -> None:
        self.inbox.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.outbox.close()


class Store:
    """Buffered inserts into the three databases, applied by two writer processes.

    billing.sqlite has one writer, crm.sqlite and erp.sqlite share the other: each database's
    statements stay in one ordered stream, and the three processes share the machine's cores.
    """

    def __init__(self, paths: schema.SandboxPaths, *, bulk: bool) -> None:
        self.paths = paths
        self.bulk = bulk
        billing = _Writer(paths, ("billing",), bulk)
        ledgers = _Writer(paths, ("crm", "erp"), bulk)
        self._writers = (billing, ledgers)
        self._by_db = {"billing": billing, "crm": ledgers, "erp": ledgers}
        self._buf: dict[tuple[str, str], list[list[Any]]] = {}
        self._bytes: dict[str, int] = {}
        self._closed = False
        #: peak RSS of each writer process (KiB), known once closed
        self.writer_peak_rss: list[int] = []

    # ------------------------------------------------------------------ rows
    def _add(self, db: str, table: str, row: list[Any]) -> None:
        key = (db, table)
        buf = self._buf.get(key)
        if buf is None:
            buf = self._buf[key] = []
        buf.append(row)
        if len(buf) >= BATCH:
            self._flush_one(key)

    def billing_row(self, table: str, row: dict[str, Any]) -> None:
        """Upsert a billing row; `doc` may be a dict (serialized here), JSON bytes or str."""
        values = [row[c] for c in _BILLING_COLS[table]]
        doc = values[-1]
        if isinstance(doc, dict):
            doc = values[-1] = orjson.dumps(doc)
        self.billing_values(table, values, len(doc))

    def billing_values(self, table: str, values: list[Any], size: int) -> None:
        """Upsert a billing row given in column order (doc last: JSON bytes) of `size` bytes."""
        key = ("billing", table)
        buf = self._buf.get(key)
        if buf is None:
            buf = self._buf[key] = []
            self._bytes[table] = 0
        buf.append(values)
        total = self._bytes[table] + size
        self._bytes[table] = total
        if total >= BATCH_BYTES or len(buf) >= BATCH:
            self._flush_one(key)

    def set_book(self, seed: int, created: int, profile: Profile = CLASSIC) -> None:
        """Tell the writers the price book (`PriceBook(seed, created, profile)`) their jobs
        refer to."""
        for w in self._writers:
            w.send(("book", seed, created, profile))

    def job(self, db: str, payload: tuple[Any, ...], size: int = 200) -> None:
        """Queue a job for `render.render_jobs` in the writer of `db` (plain values only).

        Jobs of one database run in order, but not in order with its `billing_row`/`erp_row`
        rows: a table is written by jobs only or by rows only.
        """
        w = self._by_db[db]
        w.jobs.append(payload)
        w.jobs_bytes += size
        if w.jobs_bytes >= BATCH_BYTES or len(w.jobs) >= BATCH:
            w.flush_jobs()

    def crm_row(self, obj: str, row: dict[str, Any]) -> None:
        """Upsert a CRM row (all fields of the object)."""
        self._add("crm", obj, [row.get(c) for c in CRM_COLS[obj]])

    def erp_row(self, table: str, row: dict[str, Any]) -> None:
        """Insert an ERP row (never replaces: the ERP API may have written to it)."""
        self._add("erp", table, [row.get(c) for c in ERP_COLS[table]])

    def erp_values(self, table: str, values: list[Any]) -> None:
        """Insert an ERP row given as values in `ERP_FIELDS` column order (hot paths)."""
        self._add("erp", table, values)

    def _flush_one(self, key: tuple[str, str]) -> None:
        rows = self._buf.pop(key, None)
        if key[0] == "billing":
            self._bytes.pop(key[1], None)
        if rows:
            self._by_db[key[0]].send(("rows", key[0], key[1], rows))

    def flush(self) -> None:
        """Hand every buffered row to the writers (in order; they apply them in the background)."""
        for key in sorted(self._buf):
            self._flush_one(key)
        for w in self._writers:
            w.flush_jobs()

    # ------------------------------------------------------------------ statements
    def execute(self, db: str, sql: str, params: Sequence[Any] = ()) -> None:
        """Run a statement after every row issued so far (`db`: crm, billing or erp)."""
        self.flush()
        self._by_db[db].send(("exec", db, sql, tuple(params)))

    def query(self, db: str, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Rows of a query that sees every row and statement issued so far."""
        self.flush()
        w = self._by_db[db]
        w.send(("query", db, sql, tuple(params)))
        rows: list[tuple[Any, ...]] = w.reply()
        return rows

    def commit(self) -> None:
        """Flush and commit all three databases (waits for the writers)."""
        self.flush()
        for w in self._writers:
            w.send(("commit",))
        for w in self._writers:
            w.reply()

    def close(self) -> None:
        """Commit, rebuild the indexes of a bulk load, close, and wait for the writers."""
        if self._closed:
            return
        self.close_async()
        self.wait_closed()

    def close_async(self) -> None:
        """Start closing: the writers commit and build indexes while the caller goes on."""
        self.flush()
        for w in self._writers:
            w.send(("close",))
        self._closed = True

    def wait_closed(self) -> None:
        """Wait until the writers have finished closing (see `close_async`)."""
        errors: list[BaseException] = []
        for w in self._writers:
            try:
                self.writer_peak_rss.append(w.finish())
            except BaseException as exc:  # finish the other writer before raising
                errors.append(exc)
        if errors:
            raise errors[0]

    def abort(self) -> None:
        """Stop the writers without finishing (after a failure: the sandbox is incomplete)."""
        if self._closed:
            return
        self._closed = True
        for w in self._writers:
            w.abort()

    def counts(self) -> dict[str, int]:
        """Rows per table across the three databases (bookkeeping tables excluded)."""
        out: dict[str, int] = {}
        for db in ("crm", "billing", "erp"):
            names = [
                r[0]
                for r in self.query(
                    db,
                    "select name from sqlite_master where type='table' and name not like '\\_%'"
                    " escape '\\' and name not like 'sqlite%' order by name",
                )
            ]
            for name in names:
                out[name] = self.query(db, f'select count(*) from "{name}"')[0][0]
        return out


def erp_max_id(store: Store, table: str, col: str = "id") -> int:
    """Highest id in an ERP table (0 when empty)."""
    row = store.query("erp", f'select max("{col}") from "{table}"')[0]
    return int(row[0] or 0)
