"""The NetSuite-shaped ERP API: SuiteQL queries and the record API over erp.sqlite."""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox.erp import records, suiteql
from sandbox.erp.core import NetSuiteError, connect, dumps, json_response, loads, read_clock
from sandbox.erp.snapshots import Snapshot, SnapshotCache
from sandbox.schema import ERP_FIELDS, ERP_INTERNAL_DDL, SandboxPaths, erp_ddl

log = logging.getLogger(__name__)

QUERY_PATH = "/services/rest/query/v1/suiteql"
RECORD_PREFIX = "/services/rest/record/v1"
#: NetSuite's page size: default and maximum of `limit`.
MAX_LIMIT = 1000
#: NetSuite refuses to page past this many rows of one query.
MAX_ROWS = 100_000
#: A query text longer than this is refused (a malformed client, not a query).
MAX_QUERY_CHARS = 100_000


def _int_param(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise NetSuiteError(
            400, f"Invalid value for the parameter '{name}': {raw!r} is not an integer."
        ) from None


def _page_href(request: Request, limit: int, offset: int) -> str:
    base = f"{request.url.scheme}://{request.url.netloc}{request.url.path}"
    return f"{base}?{urlencode({'limit': limit, 'offset': offset})}"


#: Grouped/DISTINCT results up to this many rows are snapshotted whole (rendered rows).
MAX_SNAPSHOT_ROWS = 5000


def _snapshot(con: sqlite3.Connection, compiled: suiteql.CompiledQuery) -> Snapshot | None:
    """The ordered result of `compiled` now, or None when it is too large to keep whole."""
    if compiled.keyed:
        # Only the first MAX_ROWS rows can ever be paged to; the count is needed only beyond.
        key_rows = con.execute(compiled.keys_sql(), {**compiled.params, "_limit": MAX_ROWS})
        keys = key_rows.fetchall()
        total = len(keys)
        if total >= MAX_ROWS:
            total = con.execute(compiled.count_sql(), compiled.params).fetchone()[0]
        return Snapshot.from_key_rows(total, keys, len(compiled.row_tables))
    rows = con.execute(
        compiled.page_sql(), {**compiled.params, "_limit": MAX_SNAPSHOT_ROWS + 1, "_offset": 0}
    ).fetchall()
    if len(rows) > MAX_SNAPSHOT_ROWS:
        return None
    return Snapshot(len(rows), rows=rows)


def _page(
    con: sqlite3.Connection,
    compiled: suiteql.CompiledQuery,
    cache: SnapshotCache,
    key: tuple[Any, ...],
    limit: int,
    offset: int,
) -> tuple[int, list[tuple[Any, ...]]]:
    # Offset 0 starts a read: it always takes a fresh snapshot, so a repeated query sees
    # every write made since; later offsets continue the snapshot of their first page.
    snap = cache.get(key) if offset > 0 else None
    if snap is None:
        snap = _snapshot(con, compiled)
        if snap is None:  # a large grouped result: answered by LIMIT/OFFSET as it stands
            total = con.execute(compiled.count_sql(), compiled.params).fetchone()[0]
            rows = con.execute(
                compiled.page_sql(), {**compiled.params, "_limit": limit, "_offset": offset}
            ).fetchall()
            return total, rows
        cache.put(key, snap)
    if snap.rows is not None:
        return snap.total, snap.rows[offset : offset + limit]
    keys = snap.key_page(offset, limit)
    if not keys:
        return snap.total, []
    rows = con.execute(
        compiled.rows_by_keys_sql(), {**compiled.params, "_keys": dumps(keys).decode()}
    ).fetchall()
    return snap.total, rows


def _run_query(
    paths: SandboxPaths,
    cache: SnapshotCache,
    text: str,
    limit: int,
    offset: int,
    denied: frozenset[str] = frozenset(),
) -> tuple[int, list[dict[str, Any]]]:
    try:
        compiled = suiteql.compile_query(text, read_clock(paths), denied)
    except suiteql.SuiteQLError as exc:
        raise NetSuiteError(400, f"Invalid search query. {exc}") from None
    # The parameters carry SYSDATE's value, so a query over "now" is a new query once the
    # clock moves.
    key = (text, tuple(sorted(compiled.params.items())))
    con = connect(paths)
    try:
        # One read transaction, so the snapshot, the count and the page agree while the
        # generator's `advance` writes.
        con.execute("BEGIN")
        total, rows = _page(con, compiled, cache, key, limit, offset)
        con.execute("COMMIT")
    except Exception as exc:  # an SQLite error here means our compiler let something through
        log.warning("SuiteQL failed in SQLite: %s (%s)", exc, text)
        raise NetSuiteError(400, f"Invalid search query. {exc}") from None
    finally:
        con.close()
    return total, [suiteql.render_row(r, compiled.columns) for r in rows]


async def suiteql_endpoint(request: Request) -> Response:
    """`POST /services/rest/query/v1/suiteql?limit=&offset=` with `Prefer: transient`."""
    paths: SandboxPaths = request.app.state.paths
    unknown = sorted(set(request.query_params) - {"limit", "offset"})
    if unknown:
        raise NetSuiteError(400, f"Invalid query parameter '{unknown[0]}'.")
    if "transient" not in request.headers.get("prefer", "").lower():
        raise NetSuiteError(
            400,
            "Invalid search query. The request must include the header 'Prefer: transient'.",
        )
    limit = _int_param(request, "limit", MAX_LIMIT)
    offset = _int_param(request, "offset", 0)
    if not 1 <= limit <= MAX_LIMIT:
        raise NetSuiteError(
            400, f"Invalid value for the parameter 'limit': it must be between 1 and {MAX_LIMIT}."
        )
    if offset < 0:
        raise NetSuiteError(400, "Invalid value for the parameter 'offset': it must be >= 0.")
    if offset >= MAX_ROWS:
        raise NetSuiteError(
            400,
            f"Invalid search query. A query can return at most {MAX_ROWS} results; "
            "narrow it down (e.g. by a date or id range) to read further.",
        )
    body = await request.body()
    if len(body) > MAX_QUERY_CHARS:
        raise NetSuiteError(413, "The request body is too large.", "INVALID_CONTENT")
    try:
        payload = loads(body)
    except ValueError:
        raise NetSuiteError(400, "Invalid content in the request body: not JSON.") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("q"), str):
        raise NetSuiteError(400, 'Invalid search query. The body must be {"q": "<SuiteQL>"}.')
    if set(payload) - {"q"}:
        raise NetSuiteError(400, f"Invalid field in the request body: {sorted(payload)[0]!r}.")

    total, items = await run_in_threadpool(
        _run_query,
        paths,
        request.app.state.snapshots,
        payload["q"],
        limit,
        offset,
        request.app.state.denied_tables,
    )
    # By position, not by rows served: a row deleted since the read's first page leaves a
    # page short without ending the read.
    has_more = offset + limit < total
    links: list[dict[str, str]] = []
    if offset > 0:
        links.append(
            {"rel": "previous", "href": _page_href(request, limit, max(0, offset - limit))}
        )
    links.append({"rel": "first", "href": _page_href(request, limit, 0)})
    if has_more:
        links.append({"rel": "next", "href": _page_href(request, limit, offset + limit)})
    last = ((total - 1) // limit) * limit if total else 0
    links.append({"rel": "last", "href": _page_href(request, limit, last)})
    links.append({"rel": "self", "href": _page_href(request, limit, offset)})
    return json_response(
        {
            "links": links,
            "count": len(items),
            "hasMore": has_more,
            "items": items,
            "offset": offset,
            "totalResults": total,
        }
    )


async def _netsuite_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, NetSuiteError)
    return exc.response()


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        err = NetSuiteError(404, f"The path {request.url.path} does not exist.", "NONEXISTENT_ID")
    elif exc.status_code == 405:
        err = NetSuiteError(
            405, f"The method {request.method} is not allowed here.", "METHOD_NOT_ALLOWED"
        )
    else:
        err = NetSuiteError(exc.status_code, str(exc.detail), "INVALID_REQUEST")
    return err.response()


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("ERP sandbox: unexpected error on %s %s", request.method, request.url.path)
    return NetSuiteError(
        500, "An unexpected error occurred in the sandbox.", "UNEXPECTED_ERROR"
    ).response()


#: The generator's resolved profile, next to the sandbox's databases.
PROFILE_FILE = "profile.json"


def profile_denied_tables(paths: SandboxPaths) -> frozenset[str]:
    """The SuiteQL tables the sandbox's role may not read, from `<sandbox>/profile.json`.

    `{"erp": {"denied_tables": ["deletedrecord"]}}`; `"deleted_records_permission": false`
    alone denies `deletedrecord`. No file, no `erp` or no key: nothing is denied.
    """
    try:
        profile = json.loads((paths.root / PROFILE_FILE).read_text())
    except FileNotFoundError:
        return frozenset()
    except (OSError, ValueError) as exc:
        log.warning("ERP sandbox: cannot read %s: %s", paths.root / PROFILE_FILE, exc)
        return frozenset()
    erp = profile.get("erp") if isinstance(profile, dict) else None
    if not isinstance(erp, dict):
        return frozenset()
    tables = erp.get("denied_tables")
    if tables is None and erp.get("deleted_records_permission") is False:
        tables = ["deletedrecord"]
    return frozenset(str(t).lower() for t in tables or ())


def create_app(paths: SandboxPaths, denied_tables: Iterable[str] | None = None) -> Starlette:
    """The ERP (NetSuite REST) app serving `paths.erp`.

    Routes: `POST /services/rest/query/v1/suiteql`; `GET|PATCH|DELETE
    /services/rest/record/v1/<type>/<id or eid:ext>`; `POST /services/rest/record/v1/<type>`;
    `PUT /services/rest/record/v1/<type>/eid:<ext>`;
    `POST /services/rest/record/v1/invoice/<id>/!transform/creditmemo`.

    Args:
        paths: the sandbox's files.
        denied_tables: SuiteQL tables the role may not read (answered as NetSuite answers
            them: `Record '<table>' was not found`); read from `<sandbox>/profile.json`
            (`erp.denied_tables`) when omitted.
    """
    if paths.erp.exists():
        # Databases made before the bookkeeping tables gained columns/tables get them here.
        con = connect(paths)
        try:
            have = {r[0] for r in con.execute("select name from sqlite_master where type='table'")}
            # Tables added to the schema since the database was generated (`deletedrecord`).
            con.executescript(ERP_INTERNAL_DDL if set(ERP_FIELDS) <= have else erp_ddl())
        finally:
            con.close()
    app = Starlette(
        routes=[
            Route(QUERY_PATH, suiteql_endpoint, methods=["POST"]),
            Route(
                RECORD_PREFIX + "/{rtype}/{rid}/!transform/{target}",
                records.transform_endpoint,
                methods=["POST"],
            ),
            Route(RECORD_PREFIX + "/{rtype}", records.collection_endpoint, methods=["POST"]),
            Route(
                RECORD_PREFIX + "/{rtype}/{rid}",
                records.instance_endpoint,
                methods=["GET", "PATCH", "PUT", "DELETE"],
            ),
        ],
        exception_handlers={
            NetSuiteError: _netsuite_error,
            HTTPException: _http_error,
            Exception: _unexpected,
        },
    )
    app.state.paths = paths
    app.state.snapshots = SnapshotCache()
    app.state.denied_tables = (
        profile_denied_tables(paths)
        if denied_tables is None
        else frozenset(t.lower() for t in denied_tables)
    )
    if app.state.denied_tables:
        denied = ", ".join(sorted(app.state.denied_tables))
        log.info("ERP sandbox: the role may not read %s", denied)
    return app
