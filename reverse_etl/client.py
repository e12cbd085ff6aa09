"""A small client of NetSuite's REST record API and SuiteQL, built for safe writes.

Every request goes through one rate limiter and retries 429 (honouring `Retry-After`), 5xx
and dropped connections with exponential backoff. Writes carry an idempotency key and, when
the caller has a version, `If-Match`; when a write's response is lost the caller's
`landed` check asks the ERP whether it took effect before anything is sent again.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx

log = logging.getLogger(__name__)

RECORD_PREFIX = "/services/rest/record/v1"
SUITEQL_PATH = "/services/rest/query/v1/suiteql"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


def dumps(value: Any) -> str:
    """JSON text with `Decimal` written as exact JSON numbers (never through a float)."""
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(str(k))}:{dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(dumps(v) for v in value) + "]"
    return json.dumps(value)


def loads(text: bytes | str) -> Any:
    """Parse JSON keeping every non-integer number as an exact `Decimal`."""
    return json.loads(text, parse_float=Decimal)


class RateLimiter:
    """Spaces requests evenly at `rate` per second across threads (a leaky bucket)."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self._next = time.monotonic()
        self._lock = threading.Lock()

    def acquire(self) -> None:
        """Block until the next request may go out."""
        if not self.interval:
            return
        with self._lock:
            now = time.monotonic()
            slot = max(self._next, now)
            self._next = slot + self.interval
        if slot > now:
            time.sleep(slot - now)

    def pause(self, seconds: float) -> None:
        """Hold every thread back (the ERP said 429: the whole integration is over its limit)."""
        with self._lock:
            self._next = max(self._next, time.monotonic() + seconds)


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: attempts per request and the backoff between them."""

    max_attempts: int = 8
    backoff_seconds: float = 0.2
    max_backoff_seconds: float = 8.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before try `attempt + 1` (full jitter, at least `Retry-After`)."""
        cap = min(self.max_backoff_seconds, self.backoff_seconds * 2 ** (attempt - 1))
        wait = random.uniform(cap / 2, cap)
        return max(wait, retry_after or 0.0)


@dataclass
class ErpResponse:
    """What the ERP answered (or what the landed check established).

    Attributes:
        status: HTTP status (204 for a write, 200 for a read).
        body: parsed JSON body, or None.
        location: the `Location` header of a write (the record written).
        etag: the `ETag` header of a read.
        tries: requests sent for this call, retries included.
        confirmed_by_check: the response was lost and the ERP's state showed the write landed.
    """

    status: int
    body: Any = None
    location: str | None = None
    etag: str | None = None
    tries: int = 1
    confirmed_by_check: bool = False

    def summary(self) -> dict[str, Any]:
        """A compact, secret-free record of the answer for the ledger."""
        out: dict[str, Any] = {"status": self.status, "tries": self.tries}
        if self.location:
            out["location"] = self.location
        if self.confirmed_by_check:
            out["confirmed_by_check"] = True
        if isinstance(self.body, dict) and "o:errorDetails" in self.body:
            out["error"] = self.body["o:errorDetails"]
        return out


class ErpError(Exception):
    """The ERP refused a request (4xx) or stayed unavailable after every retry."""

    def __init__(self, status: int, message: str, response: ErpResponse | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.response = response

    @property
    def code(self) -> str:
        """NetSuite's `o:errorCode`, or `UNAVAILABLE` when retries ran out."""
        body = self.response.body if self.response else None
        if isinstance(body, dict):
            details = body.get("o:errorDetails") or [{}]
            return str(details[0].get("o:errorCode", ""))
        return "UNAVAILABLE"


@dataclass
class RecordClient:
    """NetSuite REST record API + SuiteQL over HTTP.

    Args:
        base_url: the account's host, e.g. `http://127.0.0.1:8703` (no path).
        token: the bearer token (never logged).
        rate_per_second: requests per second across all threads.
        retry: retry and backoff settings.
        timeout: seconds per request.
        verify: TLS verification (a CA bundle path or a bool).
    """

    base_url: str
    token: str = field(repr=False)
    rate_per_second: float = 10.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    timeout: float = 30.0
    verify: bool | str = True

    def __post_init__(self) -> None:
        self.limiter = RateLimiter(self.rate_per_second)
        self._http = httpx.Client(
            base_url=self.base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {self.token}", "Accept": "application/json"},
            timeout=self.timeout,
            verify=self.verify,
            trust_env=False,
        )
        self._stats_lock = threading.Lock()
        self.requests_sent = 0

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def __enter__(self) -> RecordClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing ---------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        headers: dict[str, str] | None = None,
        landed: Callable[[], bool] | None = None,
    ) -> ErpResponse:
        """Send one request with rate limiting and retries.

        Args:
            method: HTTP method.
            path: path under the base URL (may include a query string).
            body: JSON body (Decimals stay exact).
            headers: extra headers (idempotency key, If-Match, Prefer).
            landed: for writes, asked after a lost response or a 5xx before trying again;
                True means the ERP already holds the change, so nothing is re-sent.

        Returns:
            The response of a 2xx answer.

        Raises:
            ErpError: on a 4xx other than 429, or when every try failed.
        """
        content = dumps(body).encode() if body is not None else None
        hdrs = dict(headers or {})
        if content is not None:
            hdrs["Content-Type"] = "application/json"
        last: ErpResponse | None = None
        last_error = ""
        for attempt in range(1, self.retry.max_attempts + 1):
            self.limiter.acquire()
            with self._stats_lock:
                self.requests_sent += 1
            retry_after: float | None = None
            try:
                resp = self._http.request(method, path, content=content, headers=hdrs)
                resp.read()
            except httpx.TransportError as exc:
                last_error = f"{type(exc).__name__}: {exc}"
                log.debug("%s %s: try %d lost (%s)", method, path, attempt, last_error)
            else:
                parsed = _parse(resp)
                last = ErpResponse(
                    status=resp.status_code,
                    body=parsed,
                    location=resp.headers.get("location"),
                    etag=resp.headers.get("etag"),
                    tries=attempt,
                )
                if resp.status_code < 400:
                    return last
                if resp.status_code not in RETRY_STATUSES:
                    raise ErpError(resp.status_code, _message(parsed, resp.status_code), last)
                last_error = f"HTTP {resp.status_code}"
                if resp.status_code == 429:
                    retry_after = _retry_after(resp.headers.get("retry-after"))
                    self.limiter.pause(retry_after or self.retry.backoff_seconds)
            if attempt == self.retry.max_attempts:
                break
            time.sleep(self.retry.delay(attempt, retry_after))
            if landed is not None and last_error != "HTTP 429" and landed():
                # The write took effect but its answer was lost: do not send it again.
                return ErpResponse(status=204, tries=attempt, confirmed_by_check=True)
        raise ErpError(
            last.status if last else 0,
            f"{method} {path}: no success after {self.retry.max_attempts} tries ({last_error})",
            last,
        )

    # -- reads ------------------------------------------------------------------------------

    def get(self, record_type: str, ref: str) -> ErpResponse | None:
        """Read a record by internal id or `eid:<externalId>`; None when it does not exist."""
        try:
            return self.request("GET", f"{RECORD_PREFIX}/{record_type}/{ref}")
        except ErpError as exc:
            if exc.status == 404:
                return None
            raise

    def suiteql(self, query: str, page_size: int = 1000) -> list[dict[str, Any]]:
        """Run a SuiteQL query and return every row (following `links[rel=next]`)."""
        rows: list[dict[str, Any]] = []
        path: str | None = f"{SUITEQL_PATH}?limit={page_size}&offset=0"
        while path is not None:
            resp = self.request("POST", path, body={"q": query}, headers={"Prefer": "transient"})
            page = resp.body or {}
            rows.extend(page.get("items", []))
            nxt = next(
                (ln["href"] for ln in page.get("links", []) if ln.get("rel") == "next"), None
            )
            path = None if nxt is None else _relative(nxt)
        return rows

    # -- writes -----------------------------------------------------------------------------

    def write(
        self,
        method: str,
        path: str,
        body: Any,
        *,
        idempotency_key: str,
        if_match: str | None = None,
        landed: Callable[[], bool] | None = None,
    ) -> ErpResponse:
        """Send a write (PUT/PATCH/POST/DELETE) once, whatever happens on the wire.

        Args:
            method: HTTP method.
            path: record path, e.g. `/services/rest/record/v1/invoice/12`.
            body: the record body (None for DELETE).
            idempotency_key: the same key for every retry, so a repeat is a replay.
            if_match: the record version seen at plan time (compare-and-set).
            landed: asks the ERP whether the write already took effect.
        """
        headers = {"X-NetSuite-Idempotency-Key": idempotency_key}
        if if_match is not None:
            headers["If-Match"] = if_match
        return self.request(method, path, body=body, headers=headers, landed=landed)


def _parse(resp: httpx.Response) -> Any:
    if not resp.content:
        return None
    try:
        return loads(resp.content)
    except ValueError:
        return {"raw": resp.text[:500]}


def _message(body: Any, status: int) -> str:
    if isinstance(body, dict):
        details = body.get("o:errorDetails") or []
        if details and isinstance(details[0], dict):
            return f"HTTP {status} {details[0].get('o:errorCode', '')}: {details[0].get('detail')}"
        if body.get("title"):
            return f"HTTP {status}: {body['title']}"
    return f"HTTP {status}"


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _relative(href: str) -> str:
    """`http://host:port/path?q` -> `/path?q` (the next-page link is absolute)."""
    parsed = httpx.URL(href)
    query = parsed.query.decode() if parsed.query else ""
    return parsed.path + (f"?{query}" if query else "")
