"""The NetSuite-shaped ERP API: SuiteQL queries and the record API over erp.sqlite."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox.erp import records, suiteql
from sandbox.erp.core import NetSuiteError, connect, json_response, loads, read_clock
from sandbox.schema import ERP_INTERNAL_DDL, SandboxPaths

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


def _run_query(
    paths: SandboxPaths, text: str, limit: int, offset: int
) -> tuple[int, list[dict[str, Any]]]:
    try:
        compiled = suiteql.compile_query(text, read_clock(paths))
    except suiteql.SuiteQLError as exc:
        raise NetSuiteError(400, f"Invalid search query. {exc}") from None
    con = connect(paths)
    try:
        # One read transaction, so the count and the page see the same snapshot while the
        # generator's `advance` writes.
        con.execute("BEGIN")
        total = con.execute(compiled.count_sql(), compiled.params).fetchone()[0]
        rows = con.execute(
            compiled.page_sql(), {**compiled.params, "_limit": limit, "_offset": offset}
        ).fetchall()
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

    total, items = await run_in_threadpool(_run_query, paths, payload["q"], limit, offset)
    has_more = offset + len(items) < total
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


def create_app(paths: SandboxPaths) -> Starlette:
    """The ERP (NetSuite REST) app serving `paths.erp`.

    Routes: `POST /services/rest/query/v1/suiteql`; `GET|PATCH|DELETE
    /services/rest/record/v1/<type>/<id or eid:ext>`; `POST /services/rest/record/v1/<type>`;
    `PUT /services/rest/record/v1/<type>/eid:<ext>`;
    `POST /services/rest/record/v1/invoice/<id>/!transform/creditmemo`.
    """
    if paths.erp.exists():
        # Databases made before the bookkeeping tables gained columns/tables get them here.
        con = connect(paths)
        try:
            con.executescript(ERP_INTERNAL_DDL)
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
    return app
