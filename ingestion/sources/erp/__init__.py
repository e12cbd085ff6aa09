"""ERP source (NetSuite SuiteQL): reference data and transactions with their lines, incremental.

Each table is read with `SELECT t.*, TO_CHAR(t.<datetime>, 'YYYY-MM-DD HH24:MI:SS') ...` ordered
by its last-modified column and key, from the previous run's cursor on. SuiteQL renders
datetimes as dates in the account's format, so datetime columns are read through `TO_CHAR` to
keep their time; every other value arrives as a string and is typed at the edge (`T`/`F`
booleans, account-formatted dates, exact decimals). NetSuite stops one query at 100,000 rows, so
a long read restarts from its last cursor value. Rows merge on the table's key.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import dlt
import pyarrow as pa
from dlt.extract.resource import DltResource

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
)
from ingestion.http import RetryPolicy, SourceError
from ingestion.sources.erp.helpers import SuiteQLClient
from ingestion.sources.erp.settings import (
    DEFAULT_DATE_FORMAT,
    MAX_ROWS_PER_QUERY,
    TABLES,
    TIMESTAMP_FORMAT,
    ErpTable,
)

SYSTEM = "erp"
_TS_PREFIX = "cl_ts_"


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


def _table_resource(
    table: str,
    conf: ErpTable,
    client: SuiteQLClient,
    date_format: str,
    stats: RunStats | None,
    max_rows: int = MAX_ROWS_PER_QUERY,
) -> DltResource:
    def rows() -> Iterator[Any]:
        timer = Timer(stats.table(SYSTEM, table) if stats else None)
        state = dlt.current.resource_state()
        batcher = Batcher(SYSTEM, _spec(table, conf, date_format), stats)
        floor = dt.datetime.fromisoformat(state["cursor"]) if state.get("cursor") else None
        floor_ids: set[str] = set(state.get("ids") or [])
        newest, newest_ids = floor, set(floor_ids)
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
                        converted, newest, newest_ids = _past_cursor(
                            converted, conf, floor, floor_ids, newest, newest_ids
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
            floor, floor_ids = newest, set(newest_ids)
        if newest is not None:
            state["cursor"] = newest.isoformat()
            state["ids"] = sorted(newest_ids)

    return dlt.resource(rows, name=table, write_disposition="merge", primary_key=list(conf.key))


def _past_cursor(
    table: pa.Table,
    conf: ErpTable,
    floor: dt.datetime | None,
    floor_ids: set[str],
    newest: dt.datetime | None,
    newest_ids: set[str],
) -> tuple[pa.Table, dt.datetime | None, set[str]]:
    """Drop rows already landed at the cursor value; advance the cursor and its ids."""
    stamps = table.column(conf.cursor).to_pylist() if conf.cursor in table.column_names else []
    if not stamps:
        return table, newest, newest_ids
    keys = [
        "/".join(str(v) for v in values)
        for values in zip(*(table.column(k).to_pylist() for k in conf.key), strict=True)
    ]
    keep = []
    for stamp, key in zip(stamps, keys, strict=True):
        if (
            floor is not None
            and stamp is not None
            and (stamp < floor or (stamp == floor and key in floor_ids))
        ):
            keep.append(False)
            continue
        keep.append(True)
        if stamp is None:
            continue
        if newest is None or stamp > newest:
            newest, newest_ids = stamp, {key}
        elif stamp == newest:
            newest_ids = newest_ids | {key}
    if not all(keep):
        table = table.filter(pa.array(keep))
    return table, newest, newest_ids


@dlt.source(name="erp", max_table_nesting=0)
def erp_source(
    base_url: str = dlt.config.value,
    access_token: str = dlt.secrets.value,
    date_format: str = DEFAULT_DATE_FORMAT,
    max_rows_per_query: int = MAX_ROWS_PER_QUERY,
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
        ca_bundle: CA file to trust instead of the system store (the sandbox under TLS).
        stats: a `RunStats` to count rows into.
        retry: a `RetryPolicy` overriding the default retries.

    Returns:
        Resources `subsidiary`, `currency`, `currencyrate`, `accountingperiod`, `customer`,
        `item`, `transaction`, `transactionline` and `previoustransactionlink`.
    """
    client = SuiteQLClient(
        base_url,
        access_token,
        retry=retry if isinstance(retry, RetryPolicy) else None,
        verify=ca_bundle or True,
    )
    run_stats = stats if isinstance(stats, RunStats) else None
    return [
        _table_resource(table, conf, client, date_format, run_stats, max_rows_per_query)
        for table, conf in TABLES.items()
    ]
