"""Read access to billing.sqlite and manifest.json for the billing API (one connection a thread)."""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from pathlib import Path
from typing import Any

import orjson

from sandbox import schema

#: Collections served under /v1/<name>: table and Stripe object name.
OBJECT_NAMES = {
    "customers": "customer",
    "products": "product",
    "prices": "price",
    "subscriptions": "subscription",
    "invoices": "invoice",
    "charges": "charge",
    "payment_intents": "payment_intent",
    "refunds": "refund",
    "credit_notes": "credit_note",
    "events": "event",
}
TABLES = {obj: table for table, obj in OBJECT_NAMES.items()}

#: Events older than this (relative to the simulated clock) are gone from the API.
EVENT_RETENTION_SECONDS = 30 * 86400


def _parse_clock(value: Any) -> int:
    """The manifest's clock as epoch seconds (it may be epoch or ISO 8601)."""
    if isinstance(value, bool):
        raise ValueError(f"bad clock: {value!r}")
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("-").isdigit():
            return int(text)
        if text.endswith("Z"):
            text = text[:-1] + "+00:00"
        parsed = dt.datetime.fromisoformat(text)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=dt.UTC)
        return int(parsed.timestamp())
    raise ValueError(f"bad clock: {value!r}")


class BillingStore:
    """Thread-local read-only connections to one sandbox's billing database."""

    def __init__(self, paths: schema.SandboxPaths) -> None:
        self.paths = paths
        self._local = threading.local()
        self._clock: tuple[float, int] | None = None
        self._clock_lock = threading.Lock()

    def con(self) -> sqlite3.Connection:
        """This thread's connection (opened on first use)."""
        con = getattr(self._local, "con", None)
        if con is None:
            con = schema.connect(self.paths.billing, readonly=True)
            # Documents go out as they are stored: reading them as bytes skips a UTF-8
            # decode and re-encode of every document on the list fast path.
            con.text_factory = bytes
            # Memory-mapped reads roughly halve the cost of fetching a page of documents.
            con.execute("pragma mmap_size = 268435456")
            self._local.con = con
        return con

    def clock(self) -> int:
        """The simulated "now" (manifest.json `clock`), re-read whenever the manifest changes."""
        manifest: Path = self.paths.manifest
        mtime = manifest.stat().st_mtime_ns
        cached = self._clock
        if cached is not None and cached[0] == mtime:
            return cached[1]
        with self._clock_lock:
            clock = _parse_clock(orjson.loads(manifest.read_bytes())["clock"])
            self._clock = (mtime, clock)
        return clock

    def event_floor(self) -> int:
        """The oldest `created` an event may have and still be served."""
        return self.clock() - EVENT_RETENTION_SECONDS

    def raw(self, object_name: str, id_: str) -> bytes | None:
        """The stored document of one object as JSON bytes, or None when it does not exist.

        Deleted customers come back as Stripe's deleted stub and events past the 30-day window
        as missing, as the real API does.
        """
        table = TABLES[object_name]
        if table == "customers":
            row = (
                self.con()
                .execute("select deleted, doc from customers where id = ?", (id_,))
                .fetchone()
            )
            if row is None:
                return None
            if row[0]:
                return orjson.dumps({"id": id_, "object": "customer", "deleted": True})
            return row[1]
        if table == "events":
            row = (
                self.con()
                .execute(
                    "select doc from events where id = ? and created >= ?",
                    (id_, self.event_floor()),
                )
                .fetchone()
            )
        else:
            row = self.con().execute(f"select doc from {table} where id = ?", (id_,)).fetchone()
        return None if row is None else row[0]

    def position(self, table: str, id_: str) -> int | None:
        """`created` of an object (the list cursor position), or None when it does not exist."""
        row = self.con().execute(f"select created from {table} where id = ?", (id_,)).fetchone()
        return None if row is None else row[0]

    def close(self) -> None:
        """Close this thread's connection (other threads' close when they end)."""
        con = getattr(self._local, "con", None)
        if con is not None:
            con.close()
            self._local.con = None
