"""What the ERP API's modules share: NetSuite-shaped errors, the simulated clock, connections,
and JSON encoding that keeps amounts exact."""

from __future__ import annotations

import json
import re
import sqlite3
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
from starlette.responses import Response

from sandbox import schema
from sandbox.erp.suiteql import register_functions

_STATUS = {
    400: ("Bad Request", "15.5.1"),
    401: ("Unauthorized", "15.5.2"),
    403: ("Forbidden", "15.5.4"),
    404: ("Not Found", "15.5.5"),
    405: ("Method Not Allowed", "15.5.6"),
    409: ("Conflict", "15.5.10"),
    412: ("Precondition Failed", "15.5.13"),
    413: ("Content Too Large", "15.5.14"),
    415: ("Unsupported Media Type", "15.5.16"),
    500: ("Internal Server Error", "15.6.1"),
    503: ("Service Unavailable", "15.6.4"),
}


class NetSuiteError(Exception):
    """An error answered in NetSuite's shape (`type`, `title`, `status`, `o:errorDetails`)."""

    def __init__(self, status: int, detail: str, code: str = "INVALID_PARAMETER") -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.code = code

    def body(self) -> dict[str, Any]:
        """The JSON body NetSuite sends with this error."""
        title, section = _STATUS.get(self.status, ("Error", "15.5.1"))
        return {
            "type": f"https://www.rfc-editor.org/rfc/rfc9110.html#section-{section}",
            "title": title,
            "status": self.status,
            "o:errorDetails": [{"detail": self.detail, "o:errorCode": self.code}],
        }

    def response(self) -> Response:
        """The HTTP response for this error."""
        return Response(
            orjson.dumps(self.body()),
            status_code=self.status,
            media_type="application/vnd.oracle.resource+json; type=error",
        )


def read_clock(paths: schema.SandboxPaths) -> datetime:
    """The simulated now: `manifest.json`'s `clock` (naive UTC); wall time if there is none."""
    try:
        manifest = json.loads(paths.manifest.read_text())
        raw = manifest.get("clock")
    except (OSError, ValueError):
        raw = None
    if isinstance(raw, int | float):
        return datetime.fromtimestamp(raw, UTC).replace(tzinfo=None)
    if isinstance(raw, str) and raw:
        text = raw.strip().replace("Z", "+00:00")
        try:
            dt = datetime.fromisoformat(text)
        except ValueError:
            dt = None
        if dt is not None:
            if dt.tzinfo is not None:
                dt = dt.astimezone(UTC).replace(tzinfo=None)
            return dt.replace(microsecond=0)
    # No generated sandbox yet (an empty test database): fall back to wall time.
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def connect(paths: schema.SandboxPaths) -> sqlite3.Connection:
    """A connection to erp.sqlite in autocommit mode (writers open BEGIN IMMEDIATE themselves).

    Raises:
        NetSuiteError: 503 when the sandbox has not been generated yet.
    """
    if not paths.erp.exists():
        # Opening would create an empty file and every answer would then be misleading.
        raise NetSuiteError(
            503, "The ERP sandbox has not been generated yet.", "SERVICE_UNAVAILABLE"
        )
    con = schema.connect(paths.erp)
    con.isolation_level = None
    register_functions(con)
    return con


# Amounts leave as JSON numbers with their exact digits: orjson cannot write a Decimal, so
# each one goes through as a tagged string and the tag is stripped from the output.
_DEC_TAG = "\u0001dec:" + uuid.uuid4().hex[:8] + ":"
_DEC_RE = re.compile(rb'"\\u0001dec:[0-9a-f]{8}:(-?[0-9.]+(?:E[+-]?\d+)?)"')


def _default(obj: Any) -> Any:
    if isinstance(obj, Decimal):
        return _DEC_TAG + format(obj, "f")
    raise TypeError(type(obj).__name__)


def dumps(obj: Any) -> bytes:
    """JSON-encode `obj`; Decimals become JSON numbers with exactly their digits."""
    raw = orjson.dumps(obj, default=_default)
    return _DEC_RE.sub(rb"\1", raw)


def json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response (Decimals kept exact)."""
    return Response(dumps(obj), status_code=status, media_type="application/json", headers=headers)


def loads(body: bytes) -> Any:
    """Parse a request body; numbers with a fraction become Decimals (never floats)."""
    try:
        return json.loads(body, parse_float=Decimal)
    except RecursionError:
        raise ValueError("the JSON is nested too deeply") from None
