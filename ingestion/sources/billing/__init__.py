"""Billing source (Stripe v1): lists by `created` for new objects, the events stream for changes.

Stripe objects are mutable but its lists filter only on `created`, so a run

1. takes the newest event as this run's horizon (before listing anything);
2. lists each object type created at or after the previous run's cursor (newest first,
   `starting_after` paging), with every invoice's lines and every subscription's items;
3. applies the events between the previous horizon and this one to objects created before the
   cursor: the latest snapshot per object wins (re-fetched when the event was rendered in another
   API version than the pinned one), `*.deleted` events delete the row;
4. keeps the raw events append-only in `events`.

Nothing is reloaded in full after the first run. If the previous horizon has left Stripe's 30-day
event window, the run stops with an error asking for `--full-refresh` rather than miss changes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import dlt
from dlt.extract.resource import DltResource

from ingestion.edge import Batcher, RunStats, Timer, emit
from ingestion.http import RetryPolicy, SourceError
from ingestion.prefetch import Prefetch
from ingestion.sources.billing.convert import (
    CHILD_TABLES,
    Converted,
    ConvertPool,
    ListBatch,
    PageConverter,
    attach_parent,
)
from ingestion.sources.billing.helpers import StripeClient
from ingestion.sources.billing.settings import (
    BATCH_ROWS,
    LISTS,
    OBJECT_TABLES,
    SPECS,
    STRIPE_VERSION,
)

log = logging.getLogger(__name__)

SYSTEM = "billing"
#: Every object table can lose rows: `deleted` true removes the row at merge.
_DELETED: Any = {"deleted": {"data_type": "bool", "hard_delete": True, "nullable": True}}


def table_hints(table: str, first: bool = False) -> Any:
    """The dlt hints of one billing table (shared by its own resource and the events resource).

    Args:
        table: the raw table.
        first: the table is listed in full this run (no cursor yet), so it is replaced.
    """
    if first:
        return dlt.mark.make_hints(table_name=table, write_disposition="replace")
    if table == "invoice_lines":
        # All lines of an invoice are replaced together: a line removed upstream goes too.
        return dlt.mark.make_hints(
            table_name=table,
            write_disposition={"disposition": "merge", "strategy": "delete-insert"},
            primary_key=("invoice", "id"),
            merge_key="invoice",
        )
    if table == "subscription_items":
        return dlt.mark.make_hints(
            table_name=table,
            write_disposition={"disposition": "merge", "strategy": "delete-insert"},
            primary_key=("subscription", "id"),
            merge_key="subscription",
        )
    return dlt.mark.make_hints(
        table_name=table, write_disposition="merge", primary_key="id", columns=_DELETED
    )


class _Sync:
    """Cursors shared by the resources of one run, read from and written to the source state."""

    def __init__(self, client: StripeClient) -> None:
        self.client = client
        self.started = False
        self.horizon: dict[str, Any] | None = None
        self.prev_horizon: dict[str, Any] | None = None
        self.prev_cursors: dict[str, dict[str, Any]] = {}

    def start(self) -> None:
        if self.started:
            return
        state = dlt.current.source_state()
        self.prev_cursors = dict(state.get("cursors") or {})
        self.prev_horizon = state.get("horizon")
        self.horizon = self.client.newest_event()
        self.started = True

    def cursor(self, table: str) -> tuple[int | None, set[str]]:
        """The previous run's newest `created` of a table and the ids listed in that second."""
        value = self.prev_cursors.get(table)
        if not value:
            return None, set()
        return int(value["created"]), set(value.get("ids") or [])

    def set_cursor(self, table: str, created: int | None, ids: set[str]) -> None:
        if created is None:
            return
        cursors = dlt.current.source_state().setdefault("cursors", {})
        old = cursors.get(table) or {}
        if old and int(old["created"]) > created:
            return
        if old and int(old["created"]) == created:
            ids = ids | set(old.get("ids") or [])
        cursors[table] = {"created": created, "ids": sorted(ids)}


def _seen(obj: dict[str, Any], cursor: int | None, seen: set[str]) -> bool:
    return obj.get("created") == cursor and obj.get("id") in seen


class _Listing:
    """The cursor of one listing: what to ask for, what was already landed, the newest seen."""

    def __init__(self, table: str, sync: _Sync) -> None:
        sync.start()
        self.table = table
        self.sync = sync
        self.cursor, self.seen = sync.cursor(table)
        self.params: dict[str, Any] = dict(LISTS[table])
        if self.cursor is not None:
            # gte, not gt: an object created in the cursor's second after the last run
            # listed it must not be missed; the ids already seen in it are skipped.
            self.params["created[gte]"] = self.cursor
        self.newest: int | None = None
        self.newest_ids: set[str] = set()

    def take(self, page: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The page without what was landed already; its newest `created` is remembered."""
        if self.seen:
            page = [o for o in page if not _seen(o, self.cursor, self.seen)]
        for obj in page:
            created = obj.get("created")
            if not isinstance(created, int):
                continue
            if self.newest is None or created > self.newest:
                self.newest, self.newest_ids = created, {str(obj.get("id", ""))}
            elif created == self.newest:
                self.newest_ids.add(str(obj.get("id", "")))
        return page

    def finish(self) -> None:
        """The next run lists from this run's newest `created` on."""
        self.sync.set_cursor(self.table, self.newest, self.newest_ids)


class _Children:
    """Invoice lines and subscription items of listed or event-borne parents."""

    def __init__(self, client: StripeClient, stats: RunStats | None, first: bool = False) -> None:
        self.client = client
        self.lines = Batcher(SYSTEM, SPECS["invoice_lines"], stats)
        self.items = Batcher(SYSTEM, SPECS["subscription_items"], stats)
        self.line_hints = table_hints("invoice_lines", first)
        self.item_hints = table_hints("subscription_items", first)

    def of(self, table: str, parents: list[dict[str, Any]]) -> Iterator[Any]:
        if table == "invoices":
            lines: list[dict[str, Any]] = []
            for invoice in parents:
                if invoice.get("id"):
                    own = self.client.all_lines(invoice)
                    lines.extend(attach_parent(own, "invoice", invoice["id"]))
            yield from self._emit(self.lines, lines, self.line_hints)
        elif table == "subscriptions":
            items: list[dict[str, Any]] = []
            for sub in parents:
                if not sub.get("id"):
                    continue
                embedded = sub.get("items") or {}
                sub_items = list(embedded.get("data") or [])
                if embedded.get("has_more") and sub_items:
                    for page in self.client.list_pages(
                        "subscription_items",
                        {"subscription": sub["id"], "starting_after": sub_items[-1]["id"]},
                    ):
                        sub_items.extend(page)
                items.extend(attach_parent(sub_items, "subscription", sub["id"]))
            yield from self._emit(self.items, items, self.item_hints)

    @staticmethod
    def _emit(batcher: Batcher, rows: list[dict[str, Any]], hints: Any) -> Iterator[Any]:
        if not rows:
            return
        table, quarantine = batcher.convert(rows)
        if table is not None:
            yield dlt.mark.with_hints(table, hints, create_table_variant=True)
        yield from emit(None, quarantine)


#: `convert_worker` values: convert in a worker process for listings of at least `BATCH_ROWS`
#: records (`auto`), always (`on`), or never (`off`).
WORKER_MODES = ("auto", "on", "off")


def _emit_converted(result: Converted, hints: Any, stats: RunStats | None) -> Iterator[Any]:
    if stats is not None:
        stats.add(SYSTEM, result.table, rows=result.rows, rejected=result.rejected)
    if result.data is not None and result.data.num_rows:
        yield (
            result.data
            if hints is None
            else dlt.mark.with_hints(result.data, hints, create_table_variant=True)
        )
    yield from emit(None, result.quarantine)


def _batches(
    table: str,
    client: StripeClient,
    listing: _Listing,
    stored: dict[str, dict[str, str]],
) -> Iterator[ListBatch]:
    """The listing's pages (and an invoice's line pages past the embedded ones), fetched and
    grouped into batches of about `BATCH_ROWS` records, ready to convert."""
    child = CHILD_TABLES.get(table)
    bodies: list[bytes] = []
    child_pages: dict[str, list[bytes]] = {}
    count = 0
    for refs, body in client.list_pages_raw(table, listing.params):
        page = listing.take(refs)  # each record's paging fields only (a scan)
        bodies.append(body)
        count += len(page)
        if child:
            for parent in page:
                more = client.more_line_bodies(parent) if parent.get("id") else []
                if more:
                    child_pages[parent["id"]] = more
        if count >= BATCH_ROWS:
            yield ListBatch(table, bodies, frozenset(listing.seen), child_pages, stored, count)
            bodies, child_pages, count = [], {}, 0
    if bodies:
        yield ListBatch(table, bodies, frozenset(listing.seen), child_pages, stored, count)


def _pages_resource(
    table: str,
    client: StripeClient,
    sync: _Sync,
    stats: RunStats | None,
    first: bool,
    worker: str,
) -> Iterator[Any]:
    """A listing whose pages are converted from their raw bodies (`convert.PageConverter`).

    A big listing is fetched in a thread (`Prefetch`) and converted in a worker process
    (`ConvertPool`), so fetching, converting and dlt's writing of the converted tables go on
    at the same time; a small one is converted here, as it arrives.
    """
    child = CHILD_TABLES.get(table)
    hints = {table: None, **({child: table_hints(child, first)} if child else {})}
    timer = Timer(stats.table(SYSTEM, table) if stats else None)
    with timer:
        listing = _Listing(table, sync)
        # Types landed by earlier runs, so the converter catches a type change across runs.
        seeds = {t: Batcher(SYSTEM, SPECS[t]) for t in hints}
        stored = {t: b.stored() for t, b in seeds.items()}
        normalize = seeds[table].normalize
        local = PageConverter(normalize)
        pool = ConvertPool(normalize) if worker != "off" else None
        batches: Iterator[ListBatch]
        if pool is not None:
            # dlt takes items from the source's resources in turn, so several listings may be
            # fetching at once: each thread has its own client
            batches = Prefetch(
                _batches(table, client.fork(), listing, stored), name=f"closeloop-fetch-{table}"
            )
        else:
            batches = _batches(table, client, listing, stored)

    try:
        while True:
            with timer:
                batch = next(batches, None)
                if batch is None:
                    break
                if (
                    pool is not None
                    and worker == "auto"
                    and not pool.started
                    and _full(batch)
                    and not pool.claim()
                ):
                    # a big listing, but every worker slot is taken: converted here to the end
                    # (a listing's batches stay with one converter, which learns its types)
                    pool = None
                if pool is not None and (worker == "on" or pool.started or _full(batch)):
                    done = list(pool.submit(batch))
                else:
                    done = [local.convert(batch)]
            for results in done:
                for result in results:
                    yield from _emit_converted(result, hints[result.table], stats)
        with timer:
            done = list(pool.drain()) if pool is not None else []
        for results in done:
            for result in results:
                yield from _emit_converted(result, hints[result.table], stats)
    finally:
        if isinstance(batches, Prefetch):
            batches.close()
        if pool is not None:
            pool.close()
    listing.finish()


def _full(batch: ListBatch) -> bool:
    """A batch of `BATCH_ROWS` records or more: the listing is big enough for the worker."""
    return batch.size >= BATCH_ROWS


def _list_resource(
    table: str,
    client: StripeClient,
    sync: _Sync,
    stats: RunStats | None,
    first: bool,
    worker: str = "auto",
) -> DltResource:
    def rows() -> Iterator[Any]:
        if table != "subscriptions":  # items page on their own list: converted in-process
            yield from _pages_resource(table, client, sync, stats, first, worker)
            return
        batcher = Batcher(SYSTEM, SPECS[table], stats)
        children = _Children(client, stats, first)
        timer = Timer(stats.table(SYSTEM, table) if stats else None)
        with timer:
            listing = _Listing(table, sync)
            pages = client.list_pages(table, listing.params)
            buffer: list[dict[str, Any]] = []
        while True:
            with timer:
                page = next(pages, None)
                if page is None:
                    break
                buffer.extend(listing.take(page))
                if len(buffer) < BATCH_ROWS:
                    continue
                out = [*emit(*batcher.convert(buffer)), *children.of(table, buffer)]
                buffer = []
            yield from out
        with timer:
            out = [*emit(*batcher.convert(buffer)), *children.of(table, buffer)] if buffer else []
        yield from out
        listing.finish()

    return dlt.resource(
        rows,
        name=table,
        # Without a cursor the whole list is read: replacing skips the merge's staging work
        # and is just as exact (a rerun after a crash replaces again).
        write_disposition="replace" if first else "merge",
        primary_key="id",
        # deletes only happen through merges (a replaced table simply lacks the row)
        columns={} if first else _DELETED,
    )


def _events_resource(client: StripeClient, sync: _Sync, stats: RunStats | None) -> DltResource:
    def rows() -> Iterator[Any]:
        timer = Timer(stats.table(SYSTEM, "events") if stats else None)
        with timer:
            sync.start()
            horizon, prev = sync.horizon, sync.prev_horizon
        if horizon is None:
            return
        applier = _EventApplier(client, sync, stats)
        events_batcher = Batcher(SYSTEM, SPECS["events"], stats)
        with timer:
            if prev is not None and client.retrieve("events", prev["id"]) is None:
                raise SourceError(
                    SYSTEM,
                    "GET /v1/events",
                    f"the last event seen ({prev['id']}) is past Stripe's 30-day retention: "
                    "changes since then cannot be replayed; run `closeloop ingest billing "
                    "--full-refresh`",
                )
            params: dict[str, Any] = {"starting_after": horizon["id"]}
            seen_at_prev: set[str] = set()
            if prev is not None:
                params["created[gte]"] = prev["created"]
                seen_at_prev = set(prev.get("seen") or [prev["id"]])
            pages = client.list_pages("events", params)
            first: list[dict[str, Any]] | None = [horizon]
            at_horizon: set[str] = set()
        while True:
            with timer:
                page = first if first is not None else next(pages, None)  # type: ignore[arg-type]
                first = None
                if page is None:
                    break
                fresh = [e for e in page if e.get("id") not in seen_at_prev]
                at_horizon.update(
                    str(e["id"]) for e in fresh if e.get("created") == horizon["created"]
                )
                out = list(emit(*events_batcher.convert(fresh)))
                if prev is not None:
                    out.extend(applier.apply(fresh))
            yield from out
        with timer:
            yield from applier.flush()
        # The next run resumes after this horizon; ids of its second are remembered because
        # Stripe's order within one second is not something to rely on.
        state = dlt.current.source_state()
        if prev is not None and prev["created"] == horizon["created"]:
            at_horizon.update(prev.get("seen") or [])
        state["horizon"] = {
            "id": horizon["id"],
            "created": horizon["created"],
            "seen": sorted(at_horizon),
        }

    return dlt.resource(
        rows,
        name="events",
        write_disposition={"disposition": "merge", "strategy": "insert-only"},
        primary_key="id",
    )


def _lines_may_have_changed(invoice: dict[str, Any], since: int | None) -> bool:
    """Whether an invoice from an event needs its lines read again.

    Stripe freezes an invoice's lines when it is finalized. An invoice finalized before the
    previous run's horizon had its final lines landed by then (listed after finalizing, or
    re-read when its `invoice.finalized` event was applied), so a later event (paid, voided,
    marked uncollectible) leaves them as they are: no line pages are fetched for it.
    """
    finalized = (invoice.get("status_transitions") or {}).get("finalized_at")
    return not isinstance(finalized, int) or since is None or finalized >= int(since)


class _EventApplier:
    """Turns events (newest first) into the latest snapshot or deletion of each object."""

    def __init__(self, client: StripeClient, sync: _Sync, stats: RunStats | None) -> None:
        self.client = client
        self.sync = sync
        self.stats = stats
        self.done: set[tuple[str, str]] = set()
        self.pending: dict[str, list[dict[str, Any]]] = {}
        self.batchers = {table: Batcher(SYSTEM, SPECS[table], stats) for table in LISTS}
        self.hints = {table: table_hints(table) for table in LISTS}
        self.children = _Children(client, stats)

    def apply(self, events: list[dict[str, Any]]) -> Iterator[Any]:
        for event in events:
            obj = (event.get("data") or {}).get("object") or {}
            table = OBJECT_TABLES.get(obj.get("object", ""))
            object_id = obj.get("id")
            if table is None or not object_id or (table, object_id) in self.done:
                continue
            self.done.add((table, object_id))
            cursor, _ = self.sync.cursor(table)
            if cursor is None:
                continue  # the table is listed (and replaced) in full this run
            if obj.get("deleted") is True or (
                str(event.get("type", "")).endswith(".deleted") and table == "customers"
            ):
                self.pending.setdefault(table, []).append({"id": object_id, "deleted": True})
                if self.stats is not None:
                    self.stats.add(SYSTEM, table, deleted=1)
                continue
            created = obj.get("created")
            if isinstance(created, int) and created >= cursor:
                continue  # listed in this run, in its live state
            if event.get("api_version") != STRIPE_VERSION:
                # The snapshot is in another version's shape: take the object as it is now.
                current = self.client.retrieve(table, object_id)
                if current is None:
                    continue
                obj = current
            self.pending.setdefault(table, []).append(obj)
        for table, objs in list(self.pending.items()):
            if len(objs) >= 500:
                yield from self._flush_table(table)

    def flush(self) -> Iterator[Any]:
        for table in list(self.pending):
            yield from self._flush_table(table)

    def _flush_table(self, table: str) -> Iterator[Any]:
        objs = self.pending.pop(table, [])
        if not objs:
            return
        live = [o for o in objs if o.get("deleted") is not True]
        gone = [o for o in objs if o.get("deleted") is True]
        for group in (live, gone):
            if not group:
                continue
            converted, quarantine = self.batchers[table].convert(group)
            if converted is not None:
                yield dlt.mark.with_hints(converted, self.hints[table], create_table_variant=True)
            yield from emit(None, quarantine)
        if table == "invoices":
            since = (self.sync.prev_horizon or {}).get("created")
            live = [o for o in live if _lines_may_have_changed(o, since)]
        yield from self.children.of(table, live)


@dlt.source(name="billing", max_table_nesting=0)
def billing_source(
    base_url: str = dlt.config.value,
    api_key: str = dlt.secrets.value,
    ca_bundle: str | None = None,
    stats: Any = None,
    retry: Any = None,
    convert_worker: str = "auto",
) -> list[DltResource]:
    """The Stripe-shaped billing system as dlt resources, one per raw table.

    Args:
        base_url: API host without path (`https://api.stripe.com`; SOURCES__BILLING__BASE_URL).
        api_key: secret key (SOURCES__BILLING__API_KEY).
        ca_bundle: CA file to trust instead of the system store (the sandbox under TLS).
        stats: a `RunStats` to count rows into (the CLI summary).
        retry: a `RetryPolicy` overriding the default retries.
        convert_worker: `auto` (default) converts listings of at least `BATCH_ROWS` records
            in a worker process while the next pages are fetched, with at most
            `convert.WORKER_SLOTS` workers at once; `on` always, `off` never
            (SOURCES__BILLING__CONVERT_WORKER).

    Returns:
        Resources `customers`, `products`, `prices`, `subscriptions` (+ `subscription_items`),
        `invoices` (+ `invoice_lines`), `charges`, `payment_intents`, `refunds`, `credit_notes`
        and `events`.
    """
    client = StripeClient(
        base_url,
        api_key,
        retry=retry if isinstance(retry, RetryPolicy) else None,
        verify=ca_bundle or True,
    )
    if convert_worker not in WORKER_MODES:
        raise ValueError(
            f"SOURCES__BILLING__CONVERT_WORKER is {convert_worker!r}; "
            f"choose one of {', '.join(WORKER_MODES)}"
        )
    run_stats = stats if isinstance(stats, RunStats) else None
    sync = _Sync(client)
    try:
        cursors = dict(dlt.current.source_state().get("cursors") or {})
    except Exception:  # no pipeline context (the source is only being inspected)
        cursors = {}
    resources = [
        _list_resource(
            table, client, sync, run_stats, first=table not in cursors, worker=convert_worker
        )
        for table in LISTS
    ]
    resources.append(_events_resource(client, sync, run_stats))
    return resources
