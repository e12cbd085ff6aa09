"""ERP source (NetSuite SuiteQL): reference data and transactions with their lines, incremental.

Each table is read with `SELECT t.*, TO_CHAR(t.<datetime>, 'YYYY-MM-DD HH24:MI:SS') ...` ordered
by its last-modified column and key, from the previous run's cursor on. SuiteQL renders
datetimes as dates in the account's format, so datetime columns are read through `TO_CHAR` to
keep their time; every other value arrives as a string and is typed at the edge (`T`/`F`
booleans, account-formatted dates, exact decimals). NetSuite stops one query at 100,000 rows, so
a long read restarts from its last cursor value. Rows merge on the table's key.

Deletions come from NetSuite's `deletedrecord` table, read incrementally on `deleteddate` before
any other table of the run (so a row cannot be read after its deletion was). Each deleted
customer or transaction is merged as a delete marker (`cl_deleted = true`, the tables'
hard-delete column), like the CRM's `IsDeleted` rows and Stripe's `*.deleted` events; a deleted
transaction also takes the `transactionline` and `previoustransactionlink` rows landed for it,
whose keys are looked up in the warehouse. `deletedrecord` itself lands as a table.

Only a role with the *Deleted Records* permission may read `deletedrecord`; without it NetSuite
answers as for an unknown table. Optional tables (`optional_tables`) the role may not read give
one warning naming the permission (`RunStats.warnings`, shown by `closeloop ingest` and the loop
summary) and the run goes on. Deletions then come from a key sweep (`key_sweep`): the ids of
the landed customers and transactions that NetSuite no longer lists are merged as delete
markers, with their lines and links, at most once per `key_sweep_every_hours`.

NetSuite lists neither a line removed from a transaction that still exists (lines are
renumbered when amounts change) nor an application removed from a payment or credit memo. So
after an incremental read of `transaction`, the lines and links landed for the transactions it
read (those whose `lastmodifieddate` moved) are checked against the keys NetSuite holds now, in
batched queries, and each landed key that is gone is merged as a delete marker too.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterator
from typing import Any

import dlt
import pyarrow as pa
from dlt.extract.resource import DltResource

from ingestion.cursor import load_seen, past_cursor, save_seen
from ingestion.edge import (
    PARSERS,
    Batcher,
    Field,
    RunStats,
    TableSpec,
    Timer,
    account_date,
    emit,
    ns_timestamp,
    warn,
)
from ingestion.http import RetryPolicy, SourceError
from ingestion.sources.erp.helpers import SuiteQLClient
from ingestion.sources.erp.settings import (
    DEFAULT_DATE_FORMAT,
    DELETED_COLUMN,
    DELETED_RECORD_TABLES,
    IN_LIST_LIMIT,
    KEY_QUERY_PARENTS,
    KEY_SWEEP,
    KEY_SWEEP_EVERY_HOURS,
    KEY_SWEEP_MODES,
    KEY_SWEEP_STATE,
    MAX_ROWS_PER_QUERY,
    OPTIONAL_TABLES,
    SWEPT_TABLES,
    TABLE_PERMISSIONS,
    TABLES,
    TIMESTAMP_FORMAT,
    ErpTable,
)

log = logging.getLogger(__name__)

SYSTEM = "erp"
_TS_PREFIX = "cl_ts_"
DELETED_TABLE = "deletedrecord"
#: Tables rows are deleted from, and how a deleted record's rows are found in each.
_CHILDREN = {
    # table: (key columns, the columns naming the deleted transaction)
    "transactionline": (("uniquekey",), ("transaction",)),
    "previoustransactionlink": (("previousdoc", "nextdoc"), ("previousdoc", "nextdoc")),
}
_HARD_DELETE: Any = {DELETED_COLUMN: {"data_type": "bool", "hard_delete": True, "nullable": True}}
_DELETABLE = {"customer", "transaction", *_CHILDREN}


def _spec(table: str, conf: ErpTable, date_format: str) -> TableSpec:
    date_parser = account_date(date_format)
    known: dict[str, Field] = {}
    for name, kind in conf.fields.items():
        if kind == "date":
            known[name] = Field("date", date_parser)
        elif kind == "timestamp":
            known[name] = Field("timestamp", ns_timestamp)
        else:
            known[name] = Field(kind, PARSERS[kind])
    return TableSpec(table, conf.key, known, frozenset({"links"}))


def build_query(table: str, conf: ErpTable, since: dt.datetime | None) -> str:
    """The SuiteQL of one read of `table` from `since` on (inclusive), in cursor order."""
    stamps = [name for name, kind in conf.fields.items() if kind == "timestamp"]
    select = ", ".join(
        ["t.*", *(f"TO_CHAR(t.{c}, '{TIMESTAMP_FORMAT}') AS {_TS_PREFIX}{c}" for c in stamps)]
    )
    where = [conf.where] if conf.where else []
    if since is not None:
        literal = since.strftime("%Y-%m-%d %H:%M:%S")
        where.append(f"t.{conf.cursor} >= TO_TIMESTAMP('{literal}', '{TIMESTAMP_FORMAT}')")
    order = ", ".join(f"t.{c}" for c in (conf.cursor, *conf.key))
    sql = f"SELECT {select} FROM {table} t"
    if conf.join:
        sql += f" {conf.join}"
    if where:
        sql += " WHERE " + " AND ".join(where)
    return sql + f" ORDER BY {order}"


def _with_timestamps(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for item in items:
        for name in [k for k in item if k.startswith(_TS_PREFIX)]:
            item[name[len(_TS_PREFIX) :]] = item.pop(name)
    return items


def _read_table(
    table: str,
    conf: ErpTable,
    client: SuiteQLClient,
    date_format: str,
    stats: RunStats | None,
    max_rows: int,
    state: dict[str, Any],
) -> Iterator[Any]:
    """Every row of `table` past the cursor in `state`, as dlt items; advances `state`."""
    timer = Timer(stats.table(SYSTEM, table) if stats else None)
    batcher = Batcher(SYSTEM, _spec(table, conf, date_format), stats)
    floor, floor_seen = load_seen(state)
    newest, newest_seen = floor, dict(floor_seen)
    while True:
        # One query reads at most max_rows rows; the next starts at the cursor.
        with timer:
            pages = client.query(build_query(table, conf, floor))
        read = 0
        while read < max_rows:
            with timer:
                page = next(pages, None)
                if page is None:
                    break
                read += len(page)
                converted, quarantine = batcher.convert(_with_timestamps(page))
                if converted is not None:
                    converted, newest, newest_seen = past_cursor(
                        converted, conf.cursor, conf.key, floor, floor_seen, newest, newest_seen
                    )
                out = list(emit(converted, quarantine))
            yield from out
        if read < max_rows:
            break
        if newest == floor:
            raise SourceError(
                SYSTEM,
                "POST /services/rest/query/v1/suiteql",
                f"more than {max_rows} rows of {table} share "
                f"{conf.cursor} = {newest}; cannot page past NetSuite's query limit",
            )
        floor, floor_seen = newest, dict(newest_seen)
    save_seen(state, newest, newest_seen)


def unreadable(exc: BaseException, table: str) -> bool:
    """Whether `exc` is NetSuite refusing `table` to this role: SuiteQL answers a table the role
    may not read exactly as an unknown one (400, `Record '<table>' was not found`)."""
    if not isinstance(exc, SourceError) or exc.status not in (400, 403):
        return False
    text = str(exc).lower()
    return f"record '{table.lower()}' was not found" in text or "insufficient_permission" in text


def permission_warning(table: str, exc: BaseException, instead: str) -> str:
    """The one warning of an optional table the role may not read."""
    permission = TABLE_PERMISSIONS.get(table, f"permission to read {table}")
    return (
        f"erp: NetSuite refused SuiteQL on {table} (\"Record '{table}' was not found\"): the "
        f"integration role lacks the {permission}. {instead}"
    )


def _table_resource(
    table: str,
    conf: ErpTable,
    client: SuiteQLClient,
    date_format: str,
    stats: RunStats | None,
    max_rows: int = MAX_ROWS_PER_QUERY,
    deletions: _Deletions | None = None,
    optional: bool = False,
) -> DltResource:
    def rows() -> Iterator[Any]:
        if deletions is not None:
            deletions.start()
        state = dlt.current.resource_state()
        if table != "transaction" or deletions is None or not state.get("cursor"):
            # A first (full) load reads every line and link as it is: nothing can be stale.
            try:
                yield from _read_table(table, conf, client, date_format, stats, max_rows, state)
            except SourceError as exc:
                if not (optional and unreadable(exc, table)):
                    raise
                instead = (
                    f"closeloop lands nothing for {table} this run and goes on; grant the "
                    f"permission, or remove {table} from SOURCES__ERP__OPTIONAL_TABLES to "
                    "make it required."
                )
                warn(stats, SYSTEM, table, permission_warning(table, exc, instead))
            return
        changed: set[int] = set()
        for item in _read_table(table, conf, client, date_format, stats, max_rows, state):
            if isinstance(item, pa.Table) and item.num_rows:
                changed.update(int(i) for i in item.column("id").to_pylist() if i is not None)
            yield item
        yield from deletions.removed_children(sorted(changed))

    return dlt.resource(
        rows,
        name=table,
        write_disposition="merge",
        primary_key=list(conf.key),
        columns=_HARD_DELETE if table in _DELETABLE else {},
    )


class _Deletions:
    """The run's `deletedrecord` rows and the delete markers they make, read once, first.

    Whichever resource runs first calls `start()`, so deletions are read before any table:
    a record deleted later in the run is listed by the next run, by when its rows have landed.
    """

    def __init__(
        self,
        client: SuiteQLClient,
        date_format: str,
        stats: RunStats | None,
        max_rows: int,
        *,
        optional: bool = True,
        key_sweep: str = KEY_SWEEP,
        key_sweep_every_hours: float = KEY_SWEEP_EVERY_HOURS,
    ) -> None:
        self.client = client
        self.date_format = date_format
        self.stats = stats
        self.max_rows = max_rows
        self.optional = optional
        self.key_sweep = key_sweep
        self.every = dt.timedelta(hours=key_sweep_every_hours)
        self.started = False
        self.items: list[Any] = []  # deletedrecord rows as read (dlt items)
        self.deleted: dict[str, set[int]] = {}  # raw table -> ids deleted
        self.state: dict[str, Any] = {}
        self.swept_at: str | None = None  # this run's sweep, saved with the run's state

    def start(self) -> None:
        if self.started:
            return
        self.started = True
        source_state = dlt.current.source_state()
        self.state = dict(source_state.get(DELETED_TABLE) or {})
        refused: SourceError | None = None
        try:
            self._read_deleted()
        except SourceError as exc:
            if not (self.optional and unreadable(exc, DELETED_TABLE)):
                raise
            refused = exc  # refused at its first request: nothing was read
        wanted = self.key_sweep == "always" or (self.key_sweep == "auto" and refused is not None)
        last: str | None = (source_state.get(KEY_SWEEP_STATE) or {}).get("last")
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        next_at = dt.datetime.fromisoformat(last) + self.every if last else now
        outcome = ""
        if wanted and now >= next_at:
            outcome = self._sweep(now)
        elif wanted:
            outcome = f"The last sweep ran at {last}; the next runs after {next_at.isoformat()}."
            log.info("erp: key sweep not due (last %s, next after %s)", last, next_at)
        if refused is None:
            return
        if self.key_sweep == "never":
            instead = (
                "Deletions in NetSuite are NOT seen: the key sweep is off "
                "(SOURCES__ERP__KEY_SWEEP=never); grant the permission or set it to auto."
            )
        else:
            hours = self.every.total_seconds() / 3600
            every = "every run" if hours == 0 else f"at most every {hours:g} h"
            instead = (
                "closeloop finds deletions with a key sweep instead "
                f"(SOURCES__ERP__KEY_SWEEP={self.key_sweep}, {every}): landed customers and "
                "transactions NetSuite no longer lists are deleted with their lines and links. "
                f"{outcome}"
            ).strip()
        warn(self.stats, SYSTEM, DELETED_TABLE, permission_warning(DELETED_TABLE, refused, instead))

    def _sweep(self, now: dt.datetime) -> str:
        """Compare the landed ids of `SWEPT_TABLES` with NetSuite's; what is gone is deleted.

        Returns:
            What the sweep did, for the warning; a sweep that cannot run warns on its own.
        """
        found = 0
        try:
            for table in SWEPT_TABLES:
                landed = _landed_ids(table)
                if not landed:
                    continue  # never landed: a first (full) load cannot hold stale rows
                listed = listed_ids(self.client, table, TABLES[table], self.max_rows)
                if not listed:
                    # never delete on empty input: an empty listing is not every record gone
                    warn(
                        self.stats,
                        SYSTEM,
                        "key_sweep",
                        f"erp: the key sweep found no {table} at all in NetSuite while "
                        f"{len(landed):,} are landed; it deletes none of them (check the "
                        f"role's access to {table}).",
                    )
                    continue
                gone = landed - listed - self.deleted.get(table, set())
                if gone:
                    self.deleted.setdefault(table, set()).update(gone)
                    found += len(gone)
        except SourceError as exc:
            warn(
                self.stats,
                SYSTEM,
                "key_sweep",
                f"erp: the key sweep could not run ({exc}); deletions are looked for again "
                "on the next run.",
            )
            return "This run's sweep failed."
        self.swept_at = now.isoformat()
        log.info("erp: key sweep found %d record(s) deleted in NetSuite", found)
        return f"This run's sweep found {found} deleted record(s)."

    def _read_deleted(self) -> None:
        conf = TABLES[DELETED_TABLE]
        for item in _read_table(
            DELETED_TABLE,
            conf,
            self.client,
            self.date_format,
            self.stats,
            self.max_rows,
            self.state,
        ):
            self.items.append(item)
            if isinstance(item, pa.Table) and item.num_rows:
                kinds = item.column("recordtypeid").to_pylist()
                ids = item.column("recordid").to_pylist()
                for kind, rid in zip(kinds, ids, strict=True):
                    target = DELETED_RECORD_TABLES.get(str(kind))
                    if target is not None and rid is not None:
                        self.deleted.setdefault(target, set()).add(int(rid))

    def markers(self) -> Iterator[Any]:
        """Delete markers for every table that loses rows (merged like any other rows)."""
        for table, ids in sorted(self.deleted.items()):
            yield from self._emit(table, ("id",), [(i,) for i in sorted(ids)])
        transactions = sorted(self.deleted.get("transaction", ()))
        if not transactions:
            return
        for table, (key, refs) in _CHILDREN.items():
            landed = _landed(table, key, refs, transactions)
            yield from self._emit(table, key, sorted({k for k, _ in landed}))

    def removed_children(self, changed: list[int]) -> Iterator[Any]:
        """Delete markers for the lines and links landed for the `changed` transactions (read
        this run) that NetSuite no longer holds.

        NetSuite renumbers a transaction's lines when its amounts change and drops a payment's
        or credit memo's old applications when it is re-applied, and lists neither in
        `deletedrecord`. Only transactions with rows in the warehouse are asked about, in
        batched queries; rows naming a transaction deleted this run are left to `markers`.
        Called after the transactions were read, so a row removed later in the run belongs to
        a transaction the next run reads again.
        """
        if not changed:
            return
        gone = self.deleted.get("transaction", set())
        for table, (key, refs) in _CHILDREN.items():
            landed = [
                (k, named)
                for k, named in _landed(table, key, refs, changed)
                if not gone.intersection(named)
            ]
            if not landed:
                continue
            wanted = set(changed)
            parents = sorted({p for _, named in landed for p in named if p in wanted})
            now = current_keys(self.client, table, key, refs, parents, self.max_rows)
            yield from self._emit(table, key, sorted({k for k, _ in landed} - now))

    def _emit(self, table: str, key: tuple[str, ...], rows: list[tuple[Any, ...]]) -> Iterator[Any]:
        if not rows:
            return
        columns = {name: pa.array([r[n] for r in rows], pa.int64()) for n, name in enumerate(key)}
        columns[DELETED_COLUMN] = pa.array([True] * len(rows), pa.bool_())
        hints = dlt.mark.make_hints(
            table_name=table,
            write_disposition="merge",
            primary_key=list(key),
            columns=_HARD_DELETE,
        )
        if self.stats is not None:
            self.stats.add(SYSTEM, table, deleted=len(rows))
        yield dlt.mark.with_hints(pa.table(columns), hints, create_table_variant=True)


def _landed(
    table: str, key: tuple[str, ...], refs: tuple[str, ...], parents: list[int]
) -> list[tuple[tuple[Any, ...], tuple[Any, ...]]]:
    """The rows of `table` already in the warehouse that name one of `parents` in any of the
    `refs` columns (NetSuite lists a deleted transaction, not its lines or links), as (key
    values, refs values) pairs."""
    try:
        schema = dlt.current.source_schema()
    except Exception:  # no pipeline context: nothing has landed that could be deleted
        return []
    if schema.naming.normalize_table_identifier(table) not in schema.tables:
        return []  # never landed (first run, or after --full-refresh)
    pipeline = dlt.current.pipeline()
    names = list(dict.fromkeys((*key, *refs)))
    out: set[tuple[tuple[Any, ...], tuple[Any, ...]]] = set()
    with pipeline.sql_client() as client:
        qualified = client.make_qualified_table_name(table)
        cols = ", ".join(client.escape_column_name(c) for c in names)
        for start in range(0, len(parents), IN_LIST_LIMIT):
            chunk = ", ".join(str(int(p)) for p in parents[start : start + IN_LIST_LIMIT])
            where = " or ".join(f"{client.escape_column_name(r)} in ({chunk})" for r in refs)
            for values in client.execute_sql(f"select {cols} from {qualified} where {where}") or []:
                row = dict(zip(names, values, strict=True))
                out.add((tuple(row[c] for c in key), tuple(row[r] for r in refs)))
    return sorted(out)


def _key_after(key: tuple[str, ...], last: tuple[int, ...]) -> str:
    """SuiteQL for "`key` sorts after `last`" over alias `t` (keyset paging)."""
    head = f"t.{key[0]}"
    if len(key) == 1:
        return f"{head} > {int(last[0])}"
    rest = _key_after(key[1:], last[1:])
    return f"({head} > {int(last[0])} OR ({head} = {int(last[0])} AND {rest}))"


def current_keys(
    client: SuiteQLClient,
    table: str,
    key: tuple[str, ...],
    refs: tuple[str, ...],
    parents: list[int],
    max_rows: int = MAX_ROWS_PER_QUERY,
    chunk: int = KEY_QUERY_PARENTS,
) -> set[tuple[int, ...]]:
    """The keys of the rows of `table` NetSuite holds now that name one of `parents` in any of
    the integer `refs` columns (`SELECT t.uniquekey FROM transactionline t WHERE t.transaction
    IN (...) ORDER BY t.uniquekey`): one query per `chunk` parents, each resumed after its last
    key once it has read `max_rows` rows (NetSuite's ceiling for one query)."""
    out: set[tuple[int, ...]] = set()
    for start in range(0, len(parents), chunk):
        ids = ", ".join(str(int(p)) for p in parents[start : start + chunk])
        match = " OR ".join(f"t.{r} IN ({ids})" for r in refs)
        out |= _keys_where(client, table, key, match, max_rows)
    return out


def _keys_where(
    client: SuiteQLClient, table: str, key: tuple[str, ...], match: str, max_rows: int
) -> set[tuple[int, ...]]:
    """The integer keys of the rows of `table` matching `match` (SuiteQL over alias `t`, or
    "" for all), in key order, each query resumed after its last key once it has read
    `max_rows` rows (NetSuite's ceiling for one query)."""
    out: set[tuple[int, ...]] = set()
    cols = ", ".join(f"t.{c}" for c in key)
    last: tuple[int, ...] | None = None
    while True:
        where = [f"({match})"] if match else []
        if last is not None:
            where.append(_key_after(key, last))
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        pages = client.query(f"SELECT {cols} FROM {table} t{clause} ORDER BY {cols}")
        read = 0
        while read < max_rows:
            page = next(pages, None)
            if page is None:
                break
            read += len(page)
            for row in page:
                last = tuple(int(row[c]) for c in key)
                out.add(last)
        if read < max_rows:
            break
    return out


def _landed_ids(table: str) -> set[int]:
    """The ids of the rows of `table` in the warehouse (none before its first load)."""
    try:
        schema = dlt.current.source_schema()
    except Exception:  # no pipeline context: nothing has landed
        return set()
    if schema.naming.normalize_table_identifier(table) not in schema.tables:
        return set()
    pipeline = dlt.current.pipeline()
    with pipeline.sql_client() as client:
        qualified = client.make_qualified_table_name(table)
        rows = client.execute_sql(f"select {client.escape_column_name('id')} from {qualified}")
        return {int(r[0]) for r in rows or [] if r[0] is not None}


def listed_ids(
    client: SuiteQLClient, table: str, conf: ErpTable, max_rows: int = MAX_ROWS_PER_QUERY
) -> set[int]:
    """Every id NetSuite lists now in `table` under the source's own filter (`SELECT t.id FROM
    transaction t WHERE t.type IN (...) ORDER BY t.id`), paged like any SuiteQL read and
    resumed after the last id once a query has read `max_rows` rows."""
    return {k[0] for k in _keys_where(client, table, ("id",), conf.where, max_rows)}


def _deletedrecord_resource(deletions: _Deletions) -> DltResource:
    def rows() -> Iterator[Any]:
        deletions.start()
        yield from deletions.items
        yield from deletions.markers()
        if deletions.state.get("cursor"):
            dlt.current.source_state()[DELETED_TABLE] = deletions.state
        if deletions.swept_at is not None:
            dlt.current.source_state()[KEY_SWEEP_STATE] = {"last": deletions.swept_at}

    conf = TABLES[DELETED_TABLE]
    return dlt.resource(
        rows, name=DELETED_TABLE, write_disposition="merge", primary_key=list(conf.key)
    )


@dlt.source(name="erp", max_table_nesting=0)
def erp_source(
    base_url: str = dlt.config.value,
    access_token: str = dlt.secrets.value,
    date_format: str = DEFAULT_DATE_FORMAT,
    max_rows_per_query: int = MAX_ROWS_PER_QUERY,
    optional_tables: str = OPTIONAL_TABLES,
    key_sweep: str = KEY_SWEEP,
    key_sweep_every_hours: float = KEY_SWEEP_EVERY_HOURS,
    ca_bundle: str | None = None,
    stats: Any = None,
    retry: Any = None,
) -> list[DltResource]:
    """The NetSuite-shaped ERP as dlt resources, one per SuiteQL table.

    Args:
        base_url: account REST host without path
            (`https://<account>.suitetalk.api.netsuite.com`; SOURCES__ERP__BASE_URL).
        access_token: OAuth 2.0 bearer token (SOURCES__ERP__ACCESS_TOKEN).
        date_format: the account's date preference (SOURCES__ERP__DATE_FORMAT).
        max_rows_per_query: rows one query reads before the next resumes from the cursor
            (NetSuite's ceiling is 100,000; SOURCES__ERP__MAX_ROWS_PER_QUERY).
        optional_tables: comma-separated tables the run goes on without, with one warning,
            when the role may not read them (SOURCES__ERP__OPTIONAL_TABLES; `deletedrecord`).
        key_sweep: when to find deletions by comparing the landed customer and transaction ids
            with NetSuite's: `auto` (when `deletedrecord` cannot be read), `always` or `never`
            (SOURCES__ERP__KEY_SWEEP).
        key_sweep_every_hours: hours between two sweeps, 0 = every run
            (SOURCES__ERP__KEY_SWEEP_EVERY_HOURS; the last sweep's time is in the source state).
        ca_bundle: CA file to trust instead of the system store (the sandbox under TLS).
        stats: a `RunStats` to count rows into.
        retry: a `RetryPolicy` overriding the default retries.

    Returns:
        Resources `subsidiary`, `currency`, `currencyrate`, `accountingperiod`, `customer`,
        `item`, `transaction`, `transactionline`, `previoustransactionlink` and
        `deletedrecord` (which also merges the delete markers into the others).
    """
    client = SuiteQLClient(
        base_url,
        access_token,
        retry=retry if isinstance(retry, RetryPolicy) else None,
        verify=ca_bundle or True,
    )
    run_stats = stats if isinstance(stats, RunStats) else None
    mode = str(key_sweep).strip().lower()
    if mode not in KEY_SWEEP_MODES:
        raise ValueError(
            f"SOURCES__ERP__KEY_SWEEP={key_sweep!r}: choose {', '.join(KEY_SWEEP_MODES)}"
        )
    every = float(key_sweep_every_hours)
    if every < 0:
        raise ValueError(f"SOURCES__ERP__KEY_SWEEP_EVERY_HOURS={key_sweep_every_hours!r} < 0")
    optional = {t.strip().lower() for t in str(optional_tables or "").split(",") if t.strip()}
    unknown = optional - set(TABLES)
    if unknown:
        raise ValueError(
            f"SOURCES__ERP__OPTIONAL_TABLES names unknown table(s) {', '.join(sorted(unknown))}"
        )
    deletions = _Deletions(
        client,
        date_format,
        run_stats,
        max_rows_per_query,
        optional=DELETED_TABLE in optional,
        key_sweep=mode,
        key_sweep_every_hours=every,
    )
    resources = [
        _table_resource(
            table,
            conf,
            client,
            date_format,
            run_stats,
            max_rows_per_query,
            deletions,
            optional=table in optional,
        )
        for table, conf in TABLES.items()
        if table != DELETED_TABLE
    ]
    return [*resources, _deletedrecord_resource(deletions)]
