"""CRM source (Salesforce REST): every field of each object, incremental on `SystemModstamp`.

Each run describes the object (so a new field is selected and the schema evolves), then runs
`SELECT <fields> FROM <Object> WHERE SystemModstamp >= <cursor>` through `queryAll`, which also
returns deleted rows with `IsDeleted = true`; those are applied as deletes at merge
(`IsDeleted` is the table's hard-delete column), so the raw table holds what `query` would
return. Rows merge on `Id`.

An object the integration user may not read answers `INVALID_TYPE` ("sObject type 'Contact' is
not supported") or a 404 on its describe. An optional object (`optional_objects`) then gives one
warning naming the access to grant and lands as an empty table of its declared columns; a
required one fails the run with that same explanation.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import dlt
import pyarrow as pa
from dlt.common.normalizers.naming.snake_case import NamingConvention
from dlt.extract.resource import DltResource

from ingestion.cursor import load_seen, past_cursor, save_seen
from ingestion.edge import ARROW_TYPES, Batcher, RunStats, TableSpec, Timer, emit, warn
from ingestion.http import RetryPolicy, SourceError
from ingestion.sources.crm.helpers import SalesforceClient
from ingestion.sources.crm.settings import (
    BATCH_SIZE,
    CURSOR_FIELD,
    DECLARED,
    FIELD_TYPES,
    KIND_FIELDS,
    OBJECTS,
    OPTIONAL_OBJECTS,
    SKIPPED_TYPES,
    TEXT,
)

SYSTEM = "crm"
#: dlt's default naming (the raw tables' column names).
_NAMING = NamingConvention()


def _soql_datetime(value: dt.datetime) -> str:
    # Whole seconds, `Z`: the literal form every API version accepts; `>=` keeps it inclusive.
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _spec(table: str, describe: dict[str, Any], sobject: str = "") -> tuple[TableSpec, list[str]]:
    """The object's landing spec and the fields to select: every field the describe lists,
    plus the declared fields it lacks (typed null columns, never selected)."""
    known = {}
    names = []
    for fld in describe.get("fields") or []:
        ftype = fld.get("type", "string")
        if ftype in SKIPPED_TYPES:
            continue
        names.append(fld["name"])
        known[fld["name"]] = FIELD_TYPES.get(ftype, TEXT)
    # compared as dlt names them: `Tax_ID__c` in an org and a declared `Tax_Id__c` are one column
    have = {_NAMING.normalize_path(n) for n in known}
    for name, kind in DECLARED.get(sobject, {}).items():
        if _NAMING.normalize_path(name) not in have:
            known[name] = KIND_FIELDS[kind]
    return TableSpec(table, ("Id",), known, frozenset({"attributes"})), names


def unreadable(exc: BaseException) -> bool:
    """Whether `exc` is Salesforce refusing an object to the integration user: a query answers
    400 `INVALID_TYPE` (sObject type 'X' is not supported), a describe 404 `NOT_FOUND`."""
    if not isinstance(exc, SourceError):
        return False
    text = str(exc)
    return (exc.status == 400 and "INVALID_TYPE" in text) or (
        exc.status == 404 and "NOT_FOUND" in text and "/describe" in text
    )


def _refusal(sobject: str, exc: SourceError) -> str:
    return (
        f"crm: Salesforce refused {sobject} ({str(exc).removeprefix(SYSTEM + ': ')}): the "
        f"integration user has no Read access "
        f"to {sobject}; grant it in the user's profile or a permission set (Object Settings > "
        f"{sobject} > Read)."
    )


def _empty_table(table: str, sobject: str) -> pa.Table:
    """The object's declared columns, no rows: the raw table exists for the models."""
    kinds = {"Id": "text", **DECLARED.get(sobject, {}), CURSOR_FIELD: "timestamp"}
    return pa.table({name: pa.array([], ARROW_TYPES[kind]) for name, kind in kinds.items()})


def _object_resource(
    table: str,
    sobject: str,
    client: SalesforceClient,
    stats: RunStats | None,
    optional: bool = False,
) -> DltResource:
    def rows() -> Iterator[Any]:
        yielded = False
        try:
            for item in read():
                yielded = True
                yield item
        except SourceError as exc:
            if yielded or not unreadable(exc):
                raise
            if not optional:
                raise SourceError(
                    SYSTEM,
                    exc.endpoint,
                    _refusal(sobject, exc) + f" closeloop needs {sobject}.",
                    exc.status,
                ) from None
            warn(
                stats,
                SYSTEM,
                table,
                _refusal(sobject, exc) + f" closeloop lands {table} empty and goes on (it is in "
                "SOURCES__CRM__OPTIONAL_OBJECTS).",
            )
            yield _empty_table(table, sobject)

    def read() -> Iterator[Any]:
        timer = Timer(stats.table(SYSTEM, table) if stats else None)
        state = dlt.current.resource_state()
        with timer:
            spec, fields = _spec(table, client.describe(sobject), sobject)
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
    optional_objects: str = OPTIONAL_OBJECTS,
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
        optional_objects: comma-separated objects (API names) the run goes on without, with
            one warning and an empty table, when the user may not read them
            (SOURCES__CRM__OPTIONAL_OBJECTS; `Contact`).
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
    optional = {o.strip().lower() for o in str(optional_objects or "").split(",") if o.strip()}
    unknown = optional - {o.lower() for o in OBJECTS.values()}
    if unknown:
        raise ValueError(
            f"SOURCES__CRM__OPTIONAL_OBJECTS names unknown object(s) {', '.join(sorted(unknown))}"
        )
    return [
        _object_resource(t, o, client, run_stats, optional=o.lower() in optional)
        for t, o in OBJECTS.items()
    ]
