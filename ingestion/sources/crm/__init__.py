"""CRM source (Salesforce REST): every field of each object, incremental on `SystemModstamp`.

Each run describes the object (so a new field is selected and the schema evolves), then runs
`SELECT <fields> FROM <Object> WHERE SystemModstamp >= <cursor>` through `queryAll`, which also
returns deleted rows with `IsDeleted = true`; those are applied as deletes at merge
(`IsDeleted` is the table's hard-delete column), so the raw table holds what `query` would
return. Rows merge on `Id`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import dlt
from dlt.extract.resource import DltResource

from ingestion.cursor import load_seen, past_cursor, save_seen
from ingestion.edge import Batcher, RunStats, TableSpec, Timer, emit
from ingestion.http import RetryPolicy
from ingestion.sources.crm.helpers import SalesforceClient
from ingestion.sources.crm.settings import (
    BATCH_SIZE,
    CURSOR_FIELD,
    FIELD_TYPES,
    OBJECTS,
    SKIPPED_TYPES,
    TEXT,
)

SYSTEM = "crm"


def _soql_datetime(value: dt.datetime) -> str:
    # Whole seconds, `Z`: the literal form every API version accepts; `>=` keeps it inclusive.
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _spec(table: str, describe: dict[str, Any]) -> tuple[TableSpec, list[str]]:
    known = {}
    names = []
    for fld in describe.get("fields") or []:
        ftype = fld.get("type", "string")
        if ftype in SKIPPED_TYPES:
            continue
        names.append(fld["name"])
        known[fld["name"]] = FIELD_TYPES.get(ftype, TEXT)
    return TableSpec(table, ("Id",), known, frozenset({"attributes"})), names


def _object_resource(
    table: str, sobject: str, client: SalesforceClient, stats: RunStats | None
) -> DltResource:
    def rows() -> Iterator[Any]:
        timer = Timer(stats.table(SYSTEM, table) if stats else None)
        state = dlt.current.resource_state()
        with timer:
            spec, fields = _spec(table, client.describe(sobject))
            batcher = Batcher(SYSTEM, spec, stats)
            soql = f"SELECT {', '.join(fields)} FROM {sobject}"
            since, seen = load_seen(state)
            if since is not None:
                soql += f" WHERE {CURSOR_FIELD} >= {_soql_datetime(since)}"
            batches = client.query_all(soql)
        newest, newest_seen = since, dict(seen)
        while True:
            with timer:
                batch = next(batches, None)
                if batch is None:
                    break
                table_, quarantine = batcher.convert(batch)
                if table_ is not None:
                    table_, newest, newest_seen = past_cursor(
                        table_, CURSOR_FIELD, ("Id",), since, seen, newest, newest_seen
                    )
                deleted = (
                    sum(1 for r in batch if r.get("IsDeleted") is True) if stats is not None else 0
                )
                if deleted and stats is not None:
                    stats.add(SYSTEM, table, deleted=deleted)
                out = list(emit(table_, quarantine))
            yield from out
        save_seen(state, newest, newest_seen)

    return dlt.resource(
        rows,
        name=table,
        write_disposition="merge",
        primary_key="Id",
        columns={"IsDeleted": {"data_type": "bool", "hard_delete": True}},
    )


@dlt.source(name="crm", max_table_nesting=0)
def crm_source(
    base_url: str = dlt.config.value,
    access_token: str = dlt.secrets.value,
    batch_size: int = BATCH_SIZE,
    ca_bundle: str | None = None,
    stats: Any = None,
    retry: Any = None,
) -> list[DltResource]:
    """The Salesforce-shaped CRM as dlt resources, one per object.

    Args:
        base_url: instance URL without path (`https://acme.my.salesforce.com`;
            SOURCES__CRM__BASE_URL).
        access_token: OAuth access token (SOURCES__CRM__ACCESS_TOKEN).
        batch_size: records per query batch asked for (200-2000; SOURCES__CRM__BATCH_SIZE).
        ca_bundle: CA file to trust instead of the system store (the sandbox under TLS).
        stats: a `RunStats` to count rows into.
        retry: a `RetryPolicy` overriding the default retries.

    Returns:
        Resources `account`, `contact`, `product2`, `contract`, `opportunity`,
        `opportunity_line_item`.
    """
    client = SalesforceClient(
        base_url,
        access_token,
        retry=retry if isinstance(retry, RetryPolicy) else None,
        verify=ca_bundle or True,
        batch_size=batch_size,
    )
    run_stats = stats if isinstance(stats, RunStats) else None
    return [_object_resource(t, o, client, run_stats) for t, o in OBJECTS.items()]
