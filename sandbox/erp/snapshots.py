"""Result snapshots of SuiteQL queries, so that reading page n costs about one page.

A SuiteQL client pages with `limit`/`offset` only. Answering every page by running the query
again (count, full sort, skip `offset` rows) makes page n cost the whole result, and a full read
quadratic. Instead the first page of a query (offset 0) records the ordered rowids of its
result (at most `MAX_ROWS`: NetSuite refuses offsets past that) and its total; later pages of
the same query text are fetched by rowid from that snapshot. A snapshot lives in a small LRU
with a sliding time-to-live. Pages of one read therefore stay consistent while the generator's
`advance` or the record API writes: rows keep the positions of the first page's moment (their
values are read fresh; a row deleted since is skipped). Offset 0 always takes a new snapshot,
so a query repeated after a write sees the write.

Grouped and DISTINCT queries have no row identity; their rendered rows are snapshotted instead
when the result is small, and larger ones are answered the old way.
"""

from __future__ import annotations

import threading
import time
from array import array
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

#: rowid stored for "no row" (an unmatched LEFT JOIN): rowids are never this small.
_NONE = -(2**63)


@dataclass
class Snapshot:
    """The ordered result of one query at one moment.

    Attributes:
        total: the query's row count at that moment (`totalResults`).
        keys: per table of the query (FROM order), the rowid behind each result row, in
            result order (keyed queries), else empty.
        rows: the raw result rows in order (grouped/DISTINCT queries), else None.
    """

    total: int
    keys: list[array[int]] = field(default_factory=list)
    rows: list[tuple[Any, ...]] | None = None
    used: float = 0.0

    def key_page(self, offset: int, limit: int) -> list[list[int | None]]:
        """The rowid tuples of result rows `offset` .. `offset + limit - 1`."""
        if not self.keys:
            return []
        columns = [col[offset : offset + limit] for col in self.keys]
        return [[None if v == _NONE else v for v in combo] for combo in zip(*columns, strict=True)]

    @staticmethod
    def from_key_rows(total: int, rows: list[tuple[Any, ...]], width: int) -> Snapshot:
        """A keyed snapshot from `(rowid, rowid, ...)` result rows."""
        keys = [array("q", (_NONE if r[i] is None else r[i] for r in rows)) for i in range(width)]
        return Snapshot(total, keys)


class SnapshotCache:
    """A thread-safe LRU of query snapshots with a sliding time-to-live.

    Args:
        capacity: snapshots kept (the least recently used is dropped first).
        ttl: seconds a snapshot survives without being read.
    """

    def __init__(self, capacity: int = 16, ttl: float = 900.0) -> None:
        self.capacity = capacity
        self.ttl = ttl
        self._items: OrderedDict[tuple[Any, ...], Snapshot] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...]) -> Snapshot | None:
        """The live snapshot under `key` (its time-to-live restarts), or None."""
        now = time.monotonic()
        with self._lock:
            snap = self._items.get(key)
            if snap is None:
                return None
            if now - snap.used > self.ttl:
                del self._items[key]
                return None
            snap.used = now
            self._items.move_to_end(key)
            return snap

    def put(self, key: tuple[Any, ...], snap: Snapshot) -> None:
        """Keep `snap` under `key`, replacing any older one; drop expired and excess entries."""
        now = time.monotonic()
        snap.used = now
        with self._lock:
            self._items[key] = snap
            self._items.move_to_end(key)
            for old in [k for k, v in self._items.items() if now - v.used > self.ttl]:
                del self._items[old]
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)

    def clear(self) -> None:
        """Forget every snapshot."""
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)
