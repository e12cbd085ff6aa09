"""The Salesforce-shaped REST API (versions, describe, sObject rows, SOQL query/queryAll)."""

from __future__ import annotations

import logging
import re
import secrets
import sqlite3
import threading
import zlib
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox.crm.errors import SalesforceError, SoqlError
from sandbox.crm.render import (
    describe_global,
    describe_sobject,
    render_full_record,
    render_records,
    sobject_basic_info,
)
from sandbox.crm.soql import CompiledQuery, compile_query, lookup_object, normalize_id
from sandbox.ids import sf_id
from sandbox.schema import SALESFORCE_API_VERSION, SandboxPaths, connect

log = logging.getLogger(__name__)

DEFAULT_BATCH_SIZE = 2000
MIN_BATCH_SIZE = 200
MAX_BATCH_SIZE = 2000
#: Open query cursors kept per server; the least recently used beyond this expire.
MAX_LOCATORS = 256

_VERSION_RE = re.compile(r"^v(\d{1,3})\.(\d)$")
_LOCATOR_RE = re.compile(r"^(01g[A-Za-z0-9]{15})-(\d{1,10})$")
_SEASONS = ("Winter", "Spring", "Summer")


def _json(body: Any, status: int = 200) -> Response:
    return Response(content=orjson.dumps(body), status_code=status, media_type="application/json")


def _not_found(message: str = "The requested resource does not exist") -> SalesforceError:
    return SalesforceError("NOT_FOUND", message, 404)


def _version(request: Request) -> str:
    version = request.path_params["version"]
    if not _VERSION_RE.match(version):
        raise _not_found()
    return version


def _release_label(major: int) -> str:
    # Three releases a year; v59.0 was Winter '24.
    k = major - 59
    return f"{_SEASONS[k % 3]} '{24 + k // 3:02d}"


@dataclass
class _Cursor:
    compiled: CompiledQuery
    ids: tuple[str, ...]
    batch_size: int
    query: str


class LocatorStore:
    """Open query cursors: the snapshot of matching Ids behind each `nextRecordsUrl`."""

    def __init__(self, capacity: int = MAX_LOCATORS) -> None:
        self.capacity = capacity
        self._cursors: OrderedDict[str, _Cursor] = OrderedDict()
        self._lock = threading.Lock()
        # A random start keeps a restarted server from honouring a stale locator by accident.
        self._next = secrets.randbelow(62**9)

    def put(self, cursor: _Cursor) -> str:
        """Store a cursor and return its locator id (`01g...`)."""
        with self._lock:
            self._next += 1
            locator = sf_id("01g", self._next)
            self._cursors[locator] = cursor
            while len(self._cursors) > self.capacity:
                self._cursors.popitem(last=False)
        return locator

    def get(self, locator: str) -> _Cursor | None:
        """The cursor behind a locator id, or None if unknown or expired."""
        with self._lock:
            cursor = self._cursors.get(locator)
            if cursor is not None:
                self._cursors.move_to_end(locator)
            return cursor


def _batch_size(request: Request) -> int:
    header = request.headers.get("sforce-query-options")
    if not header:
        return DEFAULT_BATCH_SIZE
    for part in header.split(","):
        key, _, value = part.partition("=")
        if key.strip().lower() != "batchsize":
            continue
        value = value.strip()
        if not value.isdigit():
            raise SalesforceError(
                "INVALID_BATCH_SIZE", f"Invalid batch size in Sforce-Query-Options: '{value}'"
            )
        # Salesforce treats the size as a hint within [200, 2000].
        return max(MIN_BATCH_SIZE, min(MAX_BATCH_SIZE, int(value)))
    return DEFAULT_BATCH_SIZE


def parse_clock(value: Any) -> datetime:
    """The manifest's `clock` (epoch seconds or ISO 8601) as an aware UTC datetime."""
    if isinstance(value, bool):
        raise ValueError(f"bad clock: {value!r}")
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        text = value.strip()
        if text.lstrip("-").isdigit():
            return datetime.fromtimestamp(int(text), UTC)
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise ValueError(f"bad clock: {value!r}")


class CrmApi:
    """Request handlers over one sandbox's `crm.sqlite`."""

    def __init__(self, paths: SandboxPaths, *, short_batches: bool = False) -> None:
        self.paths = paths
        self.short_batches = short_batches
        self.locators = LocatorStore()
        self._clock: tuple[int, datetime] | None = None

    def clock(self) -> datetime | None:
        """The simulated now (`manifest.json` `clock`), re-read when the manifest changes."""
        try:
            mtime = self.paths.manifest.stat().st_mtime_ns
            cached = self._clock
            if cached is not None and cached[0] == mtime:
                return cached[1]
            now = parse_clock(orjson.loads(self.paths.manifest.read_bytes())["clock"])
        except (OSError, KeyError, ValueError, TypeError, orjson.JSONDecodeError):
            log.debug("no usable clock in %s", self.paths.manifest)
            return None
        self._clock = (mtime, now)
        return now

    def connect(self) -> sqlite3.Connection:
        if not self.paths.crm.exists():
            raise SalesforceError(
                "SERVER_UNAVAILABLE", "The sandbox CRM database does not exist yet", 503
            )
        return connect(self.paths.crm, readonly=True)

    # ---- discovery -----------------------------------------------------------------

    def versions(self, request: Request) -> Response:
        latest = int(SALESFORCE_API_VERSION[1:].split(".")[0])
        body = [
            {"label": _release_label(major), "url": f"/services/data/v{major}.0",
             "version": f"{major}.0"}
            for major in range(latest - 6, latest + 1)
        ]  # fmt: skip
        return _json(body)

    def resources(self, request: Request) -> Response:
        base = f"/services/data/{_version(request)}"
        names = ("sobjects", "query", "queryAll", "limits", "search", "recent")
        return _json({name: f"{base}/{name}" for name in names})

    def sobjects(self, request: Request) -> Response:
        return _json(describe_global(_version(request)))

    def _object(self, request: Request) -> Any:
        name = request.path_params["sobject"]
        obj = lookup_object(name)
        if obj is None:
            raise _not_found("The requested resource does not exist")
        return obj

    def sobject(self, request: Request) -> Response:
        version = _version(request)
        return _json(sobject_basic_info(self._object(request), version))

    def describe(self, request: Request) -> Response:
        version = _version(request)
        return _json(describe_sobject(self._object(request), version))

    def record(self, request: Request) -> Response:
        version = _version(request)
        obj = self._object(request)
        raw_id = request.path_params["record_id"]
        record_id = normalize_id(raw_id)
        if record_id is None:
            raise _not_found(
                f"Provided external ID field does not exist or is not accessible: {raw_id}"
            )
        fields = list(obj.fields.values())
        requested = request.query_params.get("fields")
        if requested is not None:
            chosen = []
            for name in (n.strip() for n in requested.split(",")):
                info = obj.fields.get(name.lower())
                if info is None:
                    raise SalesforceError(
                        "INVALID_FIELD",
                        f"No such column '{name}' on entity '{obj.name}'. If you are attempting "
                        "to use a custom field, be sure to append the '__c' after the custom "
                        "field name. Please reference your WSDL or the describe call for the "
                        "appropriate names.",
                    )
                if info not in chosen:
                    chosen.append(info)
            fields = [obj.fields["id"], *(f for f in chosen if f.name != "Id")]
        columns = ", ".join(f'"{f.name}"' for f in fields)
        con = self.connect()
        try:
            row = con.execute(
                f'select {columns}, "IsDeleted" from "{obj.name}" where "Id" = ?', (record_id,)
            ).fetchone()
        except sqlite3.Error as exc:
            raise _db_error(exc) from exc
        finally:
            con.close()
        if row is None:
            raise _not_found()
        if row[-1]:
            raise SalesforceError("ENTITY_IS_DELETED", "entity is deleted", 404)
        body = render_full_record(row[:-1], obj, fields, version)
        if requested is not None and all(f.name.lower() != "id" for f in chosen):
            body.pop("Id", None)
        return _json(body)

    # ---- SOQL ----------------------------------------------------------------------

    def query(self, request: Request) -> Response:
        return self._run(request, include_deleted=False)

    def query_all(self, request: Request) -> Response:
        return self._run(request, include_deleted=True)

    def _run(self, request: Request, *, include_deleted: bool) -> Response:
        version = _version(request)
        q = request.query_params.get("q")
        if q is None or not q.strip():
            raise SalesforceError("MALFORMED_QUERY", "A query string has to be specified")
        batch_size = _batch_size(request)
        compiled = compile_query(q, include_deleted=include_deleted, now=self.clock())
        con = self.connect()
        try:
            if compiled.count_only:
                (total,) = con.execute(
                    f"select count(*) from ({compiled.ids_sql})", compiled.params
                ).fetchone()
                return _json({"totalSize": total, "done": True, "records": []})
            # One read transaction: the snapshot and the first page see the same data.
            con.execute("begin")
            ids = tuple(r[0] for r in con.execute(compiled.ids_sql, compiled.params))
            end = self._batch_end(q, 0, batch_size, len(ids))
            records = self._page(con, compiled, ids[:end], version)
            con.rollback()
        except sqlite3.Error as exc:
            raise _db_error(exc) from exc
        finally:
            con.close()
        body: dict[str, Any] = {"totalSize": len(ids), "done": end >= len(ids)}
        if end < len(ids):
            locator = self.locators.put(_Cursor(compiled, ids, batch_size, q))
            body["nextRecordsUrl"] = f"/services/data/{version}/query/{locator}-{end}"
        body["records"] = records
        return _json(body)

    def _batch_end(self, query: str, offset: int, batch_size: int, total: int) -> int:
        """Where the batch starting at `offset` ends.

        With `short_batches`, batches are deterministically shorter than asked (as the real
        service may make them), so a connector that counts instead of following
        `done`/`nextRecordsUrl` fails here rather than in production.
        """
        size = batch_size
        if self.short_batches:
            size -= zlib.crc32(f"{offset}:{query}".encode()) % (batch_size // 2)
        return min(total, offset + size)

    def _page(
        self, con: sqlite3.Connection, compiled: CompiledQuery, ids: Sequence[str], version: str
    ) -> list[dict[str, Any]]:
        if not ids:
            return []
        rows = con.execute(compiled.page_sql, (orjson.dumps(list(ids)).decode(),)).fetchall()
        by_id = {row[0]: row for row in rows}
        # A row removed since the snapshot is skipped: batches may be short, never wrong.
        ordered = [by_id[i] for i in ids if i in by_id]
        return render_records(ordered, compiled.render, version)

    def more(self, request: Request) -> Response:
        version = _version(request)
        match = _LOCATOR_RE.match(request.path_params["locator"])
        cursor = self.locators.get(match.group(1)) if match else None
        if match is None or cursor is None:
            raise SalesforceError("INVALID_QUERY_LOCATOR", "invalid query locator", 400)
        offset = int(match.group(2))
        total = len(cursor.ids)
        if offset > total:
            raise SalesforceError("INVALID_QUERY_LOCATOR", "invalid query locator", 400)
        end = self._batch_end(cursor.query, offset, cursor.batch_size, total)
        con = self.connect()
        try:
            records = self._page(con, cursor.compiled, cursor.ids[offset:end], version)
        except sqlite3.Error as exc:
            raise _db_error(exc) from exc
        finally:
            con.close()
        body: dict[str, Any] = {"totalSize": total, "done": end >= total}
        if end < total:
            body["nextRecordsUrl"] = f"/services/data/{version}/query/{match.group(1)}-{end}"
        body["records"] = records
        return _json(body)


def _db_error(exc: sqlite3.Error) -> SalesforceError:
    """A database failure as Salesforce would report it (503 while the sandbox is rebuilt)."""
    if "no such table" in str(exc) or "no such column" in str(exc):
        log.warning("CRM database not ready: %s", exc)
        return SalesforceError("SERVER_UNAVAILABLE", "The sandbox CRM database is not ready", 503)
    log.error("CRM database error: %s", exc)
    return SalesforceError("UNKNOWN_EXCEPTION", "An unexpected error occurred.", 500)


def _salesforce_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SalesforceError)
    return _json(exc.body(), exc.status)


def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        allowed = exc.headers.get("Allow", "GET, HEAD") if exc.headers else "GET, HEAD"
        body = [
            {
                "errorCode": "METHOD_NOT_ALLOWED",
                "message": f"HTTP Method '{request.method}' not allowed. Allowed are {allowed}",
            }
        ]
        return _json(body, 405)
    if exc.status_code == 404:
        return _json(_not_found().body(), 404)
    return _json([{"errorCode": "UNKNOWN_EXCEPTION", "message": str(exc.detail)}], exc.status_code)


def _server_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error in the CRM API", exc_info=exc)
    body = [{"errorCode": "UNKNOWN_EXCEPTION", "message": "An unexpected error occurred."}]
    return _json(body, 500)


def _routes(api: CrmApi) -> list[Route]:
    def both(path: str, endpoint: Callable[[Request], Response]) -> list[Route]:
        return [
            Route(path, endpoint, methods=["GET"]),
            Route(path + "/", endpoint, methods=["GET"]),
        ]

    base = "/services/data/{version}"
    return [
        *both("/services/data", api.versions),
        *both(base, api.resources),
        *both(base + "/sobjects", api.sobjects),
        *both(base + "/sobjects/{sobject}", api.sobject),
        *both(base + "/sobjects/{sobject}/describe", api.describe),
        *both(base + "/sobjects/{sobject}/{record_id}", api.record),
        *both(base + "/query", api.query),
        *both(base + "/queryAll", api.query_all),
        *both(base + "/query/{locator}", api.more),
        *both(base + "/queryAll/{locator}", api.more),
    ]


def create_app(paths: SandboxPaths, *, short_batches: bool = False) -> Starlette:
    """The Salesforce-shaped CRM API over `paths.crm` (no auth: `http_common.wrap` adds it).

    Args:
        paths: the sandbox whose `crm.sqlite` is served (read-only).
        short_batches: return query batches deterministically smaller than the batch size
            (Salesforce does not promise full batches; this catches connectors that count).

    Returns:
        A Starlette app serving `/services/data/...`.
    """
    api = CrmApi(paths, short_batches=short_batches)
    app = Starlette(
        routes=_routes(api),
        exception_handlers={
            SalesforceError: _salesforce_error,
            HTTPException: _http_error,
            Exception: _server_error,
        },
    )
    app.state.crm_api = api
    return app


__all__ = ["CrmApi", "LocatorStore", "SoqlError", "create_app"]
