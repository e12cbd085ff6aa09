"""Stripe list pages to typed Arrow tables, in a worker process while the source fetches on.

A full load of a big Stripe account is two kinds of work on one connection: fetching pages (a
chain of requests, each waiting on the previous page's last id) and turning them into typed
Arrow tables. Done one after the other, each waits for the other; here the source keeps
fetching while a worker process (`ConvertPool`) converts the pages it already has.

The worker is handed the pages' raw bodies, not parsed objects: bytes cross a process boundary
for the cost of a copy, while pickling parsed JSON would cost as much as parsing it again.
`PageConverter` reads them with Arrow's JSON reader (`ingestion.edge.list_pages_table`, all the
pages of a batch in one call), so no Python object is built per value, and types them with the
same `Batcher` rules as everywhere else. A batch Arrow cannot vouch for is parsed in Python and
judged row by row, so the result does not depend on which path ran (tests compare them).

`PageConverter` also converts in the source's own process when a listing is too small to be
worth a process (incremental runs), so both ways run the same code.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import queue
import struct
import subprocess
import sys
import threading
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from ingestion.edge import Batcher, list_page_table, list_pages_table, tune_gc_for_bulk
from ingestion.sources.billing.settings import SPECS

SYSTEM = "billing"

#: Tables whose list pages carry children: an invoice embeds its first lines.
CHILD_TABLES = {"invoices": "invoice_lines"}
#: The field of a child naming its parent.
PARENT_FIELDS = {"invoice_lines": "invoice"}
#: Batches a worker may hold before the source waits for it (bounds memory).
MAX_IN_FLIGHT = 2

Records = Callable[[], list[dict[str, Any]]]


@dataclass
class ListBatch:
    """Pages of one listing, as fetched, ready to convert.

    Attributes:
        table: the raw table the listing lands in.
        bodies: the raw bodies of the list pages, in order.
        exclude: ids in those pages that are already landed (the previous run's cursor second).
        child_pages: invoices only: invoice id -> raw bodies of its line pages past the
            embedded ones, in order.
        stored: table -> column types landed by earlier runs (seeds a worker's batchers).
        size: the records of the listing in `bodies`, those in `exclude` left out.
    """

    table: str
    bodies: list[bytes]
    exclude: frozenset[str] = frozenset()
    child_pages: dict[str, list[bytes]] = field(default_factory=dict)
    stored: dict[str, dict[str, str]] = field(default_factory=dict)
    size: int = 0


@dataclass
class Converted:
    """One table's share of a converted batch."""

    table: str
    data: pa.Table | None
    quarantine: pa.Table | None

    @property
    def rows(self) -> int:
        return self.data.num_rows if self.data is not None else 0

    @property
    def rejected(self) -> int:
        return self.quarantine.num_rows if self.quarantine is not None else 0


def _page_records(body: bytes) -> list[Any]:
    page = orjson.loads(body)
    return list(page.get("data") or []) if isinstance(page, dict) else []


def attach_parent(children: list[Any], key: str, parent_id: str) -> list[Any]:
    """Name the parent on children that do not name it."""
    for child in children:
        if isinstance(child, dict) and not child.get(key):
            child[key] = parent_id
    return children


def _concat(tables: list[pa.Table | None]) -> pa.Table | None:
    """One table of pages read by Arrow (types unified), or None if any page was not."""
    if any(t is None for t in tables):
        return None
    present = [t for t in tables if t is not None and t.num_columns]
    if not present:
        return pa.table({})
    try:
        return pa.concat_tables(present, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        return None


def _read_pages(bodies: list[bytes]) -> pa.Table | None:
    """The records of list pages: read together, or page by page (types unified) when Arrow
    cannot read them together; None when it cannot read them at all."""
    together = list_pages_table(bodies)
    if together is not None:
        return together[0]
    return _concat([list_page_table(body) for body in bodies])


def _child_pages(bodies: list[bytes], owners: list[str], parent_field: str) -> pa.Table | None:
    """The children on further pages of their parents' lists (`owners[i]` owns `bodies[i]`),
    naming their parent."""
    together = list_pages_table(bodies)
    if together is not None:
        table, counts = together
        if not table.num_rows:
            return table
        owner = pa.array(
            [o for o, n in zip(owners, counts, strict=True) for _ in range(n)], pa.string()
        )
        return _with_parent(table, parent_field, owner)
    pieces: list[pa.Table | None] = []
    for body, parent_id in zip(bodies, owners, strict=True):
        page = list_page_table(body)
        if page is not None and page.num_rows:
            page = _with_parent(page, parent_field, pa.array([parent_id] * page.num_rows))
        pieces.append(page)
    return _concat(pieces)


def _embedded_children(parents: pa.Table, list_field: str, parent_field: str) -> pa.Table | None:
    """The children embedded in each parent's `<list_field>.data`, naming their parent."""
    if list_field not in parents.column_names or "id" not in parents.column_names:
        return None
    embedded = parents.column(list_field)
    if not pa.types.is_struct(embedded.type) or embedded.type.get_field_index("data") < 0:
        return None
    lists = pc.struct_field(embedded, "data")
    if not pa.types.is_list(lists.type):
        return None
    values = pc.list_flatten(lists)
    if pa.types.is_null(values.type):
        return pa.table({})
    if not pa.types.is_struct(values.type) or values.null_count:
        return None
    children = pa.Table.from_struct_array(values)
    owners = pc.take(parents.column("id"), pc.list_parent_indices(lists))
    return _with_parent(children, parent_field, owners)


def _with_parent(children: pa.Table, parent_field: str, owners: Any) -> pa.Table | None:
    if not children.num_rows:
        return children
    if parent_field not in children.column_names:
        return children.append_column(parent_field, owners)
    current = children.column(parent_field)
    if not (pa.types.is_string(current.type) or pa.types.is_null(current.type)):
        return None
    named = pc.if_else(pc.fill_null(pc.equal(current.cast(pa.string()), ""), True), owners, current)
    return children.set_column(children.column_names.index(parent_field), parent_field, named)


class PageConverter:
    """Converts `ListBatch`es with one `Batcher` per table (types learned carry over batches)."""

    def __init__(self, normalize: Callable[[str], str] = str) -> None:
        self.normalize = normalize
        self.batchers: dict[str, Batcher] = {}

    def _batcher(self, table: str, stored: dict[str, dict[str, str]]) -> Batcher:
        batcher = self.batchers.get(table)
        if batcher is None:
            batcher = Batcher(SYSTEM, SPECS[table])
            batcher.seed(stored.get(table, {}), self.normalize)
            self.batchers[table] = batcher
        return batcher

    def convert(self, batch: ListBatch) -> list[Converted]:
        """The batch's rows and quarantined rows: the listed table's, then its children's."""
        parents = self._batcher(batch.table, batch.stored)
        memo: dict[str, list[Any]] = {}

        def parent_records() -> list[Any]:
            if "parents" not in memo:
                memo["parents"] = [
                    r
                    for body in batch.bodies
                    for r in _page_records(body)
                    if not (isinstance(r, dict) and r.get("id") in batch.exclude)
                ]
            return memo["parents"]

        raw = _read_pages(batch.bodies)
        if raw is not None and batch.exclude and raw.num_rows:
            if "id" not in raw.column_names or not pa.types.is_string(raw.schema.field("id").type):
                raw = None
            else:
                dropped = pc.is_in(raw.column("id"), pa.array(sorted(batch.exclude)))
                raw = raw.filter(pc.invert(pc.fill_null(dropped, False)))
        out = [self._one(parents, raw, parent_records)]
        child_table = CHILD_TABLES.get(batch.table)
        if child_table is None:
            return out
        children = self._batcher(child_table, batch.stored)
        parent_field = PARENT_FIELDS[child_table]

        def child_records() -> list[Any]:
            # The order of `_raw_children`: every parent's embedded children, then the pages.
            if "children" not in memo:
                parents_ = [p for p in parent_records() if isinstance(p, dict) and p.get("id")]
                rows: list[Any] = []
                for parent in parents_:
                    embedded = (parent.get("lines") or {}).get("data") or []
                    rows.extend(attach_parent(list(embedded), parent_field, parent["id"]))
                for parent in parents_:
                    for body in batch.child_pages.get(parent["id"], []):
                        rows.extend(attach_parent(_page_records(body), parent_field, parent["id"]))
                memo["children"] = rows
            return memo["children"]

        raw_children = self._raw_children(raw, batch, parent_field)
        out.append(self._one(children, raw_children, child_records))
        return out

    @staticmethod
    def _raw_children(raw: pa.Table | None, batch: ListBatch, parent_field: str) -> pa.Table | None:
        """Every parent's embedded children, then every parent's further pages, in order."""
        if raw is None:
            return None
        if not raw.num_rows:
            return pa.table({})
        if "id" not in raw.column_names or not pa.types.is_string(raw.schema.field("id").type):
            return None
        # as `child_records` does: only parents with an id have children landed
        named = pc.fill_null(pc.not_equal(raw.column("id"), ""), False)
        if not pc.all(named).as_py():
            keep = [c for c in ("id", "lines") if c in raw.column_names]
            raw = raw.select(keep).filter(named)
        embedded = _embedded_children(raw, "lines", parent_field)
        if embedded is None:
            return None
        if not batch.child_pages:
            return embedded
        bodies: list[bytes] = []
        owners: list[str] = []
        for parent_id in raw.column("id").to_pylist():
            for body in batch.child_pages.get(parent_id, []):
                bodies.append(body)
                owners.append(parent_id)
        return _concat([embedded, _child_pages(bodies, owners, parent_field)])

    @staticmethod
    def _one(batcher: Batcher, raw: pa.Table | None, records: Records) -> Converted:
        table = batcher.spec.table
        if raw is not None and raw.num_rows == 0 and not records():
            return Converted(table, None, None)
        if raw is not None:
            typed = batcher.convert_arrow(raw, records)
            if typed is not None:
                return Converted(table, typed, None)
        data, quarantine = batcher.convert(records())
        return Converted(table, data, quarantine)


# --- the worker process -------------------------------------------------------------------------
#
# A plain child process (`python -m ingestion.sources.billing.convert`) speaking length-prefixed
# pickle frames on its stdin and stdout. Not `multiprocessing`: its spawn and forkserver modes
# re-import the caller's main module in the child, which runs the caller's script again when it
# has no `if __name__ == "__main__"` guard (a notebook cell, a quick script, Dagster's loaders).

_FRAME = struct.Struct("!Q")


def _write_frame(stream: IO[bytes], obj: Any) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_FRAME.pack(len(data)))
    stream.write(data)
    stream.flush()


def _read_frame(stream: IO[bytes]) -> Any:
    """The next frame, or `_EOF` when the other side closed the stream."""
    head = stream.read(_FRAME.size)
    if len(head) < _FRAME.size:
        return _EOF
    size = _FRAME.unpack(head)[0]
    data = stream.read(size)
    if len(data) < size:
        return _EOF
    return pickle.loads(data)


_EOF = object()


def _contiguous(results: list[Converted]) -> list[Converted]:
    """Contiguous columns: a pickled slice of an Arrow array carries its whole parent buffer."""
    for result in results:
        if result.data is not None:
            result.data = result.data.combine_chunks()
        if result.quarantine is not None:
            result.quarantine = result.quarantine.combine_chunks()
    return results


def worker_main(stdin: IO[bytes], stdout: IO[bytes]) -> int:
    """The worker's loop: a normalizer frame, then batches in, results (or errors) out, until
    stdin closes (the parent finished, or died: the worker never outlives it)."""
    tune_gc_for_bulk()  # for the worker's whole life: it only ever builds acyclic JSON trees
    normalize = _read_frame(stdin)
    if normalize is _EOF:
        return 0
    converter = PageConverter(normalize)
    while True:
        batch = _read_frame(stdin)
        if batch is _EOF:
            return 0
        try:
            reply: Any = ("ok", _contiguous(converter.convert(batch)))
        except Exception:  # the parent re-raises it with this traceback
            reply = ("error", traceback.format_exc())
        _write_frame(stdout, reply)


#: The worker's command line (`-c` rather than `-m`: run as `__main__`, this module's classes
#: would pickle under the wrong name).
_WORKER_CODE = (
    "import sys; from ingestion.sources.billing.convert import serve_worker; "
    "sys.exit(serve_worker())"
)


def serve_worker() -> int:
    """The worker process's entry: frames on the real stdout, anything printed goes to stderr."""
    frames = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    sys.stdout = sys.stderr
    return worker_main(sys.stdin.buffer, frames)


class ConvertWorkerError(RuntimeError):
    """The conversion worker failed or exited; the message carries its traceback."""


#: Worker processes converting at once in this process, in `auto` mode: a core is left to the
#: source (and, on one machine, to the sandbox). dlt takes items from the resources in turn,
#: so every big listing of a run would otherwise start its own worker at the same time.
WORKER_SLOTS = max(1, (os.cpu_count() or 2) - 1)
_slots = threading.BoundedSemaphore(WORKER_SLOTS)


class ConvertPool:
    """Converts batches in order, in one worker process started on first use.

    `submit` hands over a batch and returns the results of the batches done so far, oldest
    first, waiting only when `MAX_IN_FLIGHT` batches are outstanding; `drain` waits for the
    rest. One worker keeps the batches' order and the types each table learned.
    """

    def __init__(self, normalize: Callable[[str], str]) -> None:
        self.normalize = normalize
        self._proc: subprocess.Popen[bytes] | None = None
        self._results: queue.Queue[Any] = queue.Queue()
        self._outbox: queue.Queue[ListBatch | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._outstanding = 0
        self._slot = False

    def claim(self) -> bool:
        """Take one of the `WORKER_SLOTS` for this pool's worker, if one is free (kept until
        `close`); False when all are taken."""
        if not self._slot:
            self._slot = _slots.acquire(blocking=False)
        return self._slot

    @property
    def started(self) -> bool:
        """Whether a batch went to the worker (later ones must follow it there, in order)."""
        return self._proc is not None

    def _start(self) -> None:
        # The worker imports exactly what this process imports: its module search path.
        path = [p for p in sys.path if p and os.path.isdir(p)]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
        proc = subprocess.Popen(
            [sys.executable, "-c", _WORKER_CODE],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        self._proc = proc
        assert proc.stdin is not None and proc.stdout is not None
        stdin, stdout = proc.stdin, proc.stdout
        try:
            _write_frame(stdin, self.normalize)
        except OSError:
            raise self._died() from None

        # Two threads move the frames, so the source's thread never waits on a pipe: one
        # writes batches as the worker takes them, one reads results as the worker makes them.
        def write() -> None:
            try:
                while (batch := self._outbox.get()) is not None:
                    _write_frame(stdin, batch)
            except OSError:
                pass  # the worker died: the reader sees it exit and reports it
            finally:
                with contextlib.suppress(OSError):
                    stdin.close()

        def read() -> None:
            while True:
                frame = _read_frame(stdout)
                self._results.put(frame)
                if frame is _EOF:
                    return

        for target, name in ((write, "writer"), (read, "reader")):
            thread = threading.Thread(target=target, name=f"closeloop-convert-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def submit(self, batch: ListBatch) -> Iterator[list[Converted]]:
        if self._proc is None:
            self._start()
        self._outbox.put(batch)
        self._outstanding += 1
        while self._outstanding > MAX_IN_FLIGHT or (
            self._outstanding and not self._results.empty()
        ):
            yield self._next()

    def drain(self) -> Iterator[list[Converted]]:
        while self._outstanding:
            yield self._next()

    def _next(self) -> list[Converted]:
        frame = self._results.get()
        self._outstanding -= 1
        if frame is _EOF:
            raise self._died()
        status, value = frame
        if status == "error":
            raise ConvertWorkerError(f"converting billing pages failed in the worker:\n{value}")
        return list(value)

    def _died(self) -> ConvertWorkerError:
        code = self._proc.wait(timeout=30) if self._proc is not None else None
        return ConvertWorkerError(
            f"the billing conversion worker exited (code {code}; its error, if any, is on "
            "stderr above); SOURCES__BILLING__CONVERT_WORKER=off converts in-process instead"
        )

    def close(self) -> None:
        """Stop the worker: batches not yet sent are dropped, and it exits when its stdin
        closes."""
        if self._slot:
            self._slot = False
            _slots.release()
        proc, self._proc = self._proc, None
        self._outstanding = 0
        if proc is None:
            return
        with contextlib.suppress(queue.Empty):
            while True:
                self._outbox.get_nowait()
        self._outbox.put(None)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads = []


__all__ = [
    "CHILD_TABLES",
    "ConvertPool",
    "ConvertWorkerError",
    "Converted",
    "ListBatch",
    "PageConverter",
]
