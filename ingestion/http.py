"""The HTTP layer every source shares: dlt's REST client with retries, fast JSON and clear errors.

`VendorClient` is dlt's `RESTClient` on dlt's retrying `requests` session (429, 5xx and dropped
connections are retried with exponential backoff, honouring `Retry-After`). It adds three things
the vendors need:

- bodies are read from the socket in one piece (requests reads 10 KB at a time) and parsed once
  with orjson, cached on the response, so paginators and the source read the same parsed page
  (the stdlib parser was the largest cost of a page);
- a final failure raises `SourceError` naming the system and the endpoint (never the query
  string's secrets, never a header), and a 401/403 raises `SourceAuthError` naming the setting
  to fix;
- request logging never includes headers, so a token cannot reach a log.
"""

from __future__ import annotations

import logging
import os
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson
from dlt.sources.helpers.requests.retry import Client
from dlt.sources.helpers.rest_client.client import PageData, RESTClient
from dlt.sources.helpers.rest_client.paginators import BasePaginator
from requests import Request, Response
from requests.exceptions import RequestException

from closeloop.settings import CREDENTIAL_ENV

log = logging.getLogger(__name__)

#: Bytes asked of the socket per read of a response body. requests reads bodies 10 KB at a
#: time: on a Stripe invoice page (about 0.5 MB) urllib3's bookkeeping per read cost a fifth of
#: the client's time.
BODY_READ_SIZE = 1 << 22

#: Where each system's credentials are configured (named in auth errors).
CREDENTIAL_SETTINGS = CREDENTIAL_ENV


class SourceError(RuntimeError):
    """A request to a source system failed for good (after its retries)."""

    def __init__(self, system: str, endpoint: str, detail: str, status: int | None = None) -> None:
        self.system = system
        self.endpoint = endpoint
        self.status = status
        super().__init__(f"{system}: {endpoint} failed: {detail}")


class SourceAuthError(SourceError):
    """The source system refused our credentials."""

    def __init__(self, system: str, endpoint: str, status: int) -> None:
        setting = CREDENTIAL_SETTINGS.get(system, "the source credentials")
        super().__init__(
            system,
            endpoint,
            f"{status} authentication rejected by the {system} API; check {setting}",
            status,
        )


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to retry one request before giving up.

    Attributes:
        max_attempts: attempts per request, the first included.
        backoff_factor: exponential backoff multiplier in seconds.
        max_delay: ceiling of one wait, `Retry-After` included.
        timeout: seconds to wait for a response.
    """

    max_attempts: int = 8
    backoff_factor: float = 0.5
    max_delay: float = 30.0
    timeout: float = 60.0


def endpoint_of(method: str, url: str) -> str:
    """`GET /v1/invoices`: the method and path of a URL, without host or query (no secrets)."""
    return f"{method.upper()} {urlsplit(url).path}"


def parsed(response: Response) -> Any:
    """The response body parsed with orjson, once per response."""
    cached = getattr(response, "_cl_json", None)
    if cached is None:
        cached = orjson.loads(response.content)
        response._cl_json = cached  # type: ignore[attr-defined]
    return cached


class VendorClient(RESTClient):
    """dlt's REST client for one vendor API: retrying session, orjson, vendor-named errors."""

    def __init__(
        self,
        system: str,
        base_url: str,
        *,
        headers: dict[str, str],
        retry: RetryPolicy | None = None,
        verify: str | bool = True,
        error_detail: Any = None,
    ) -> None:
        policy = retry or RetryPolicy()
        session = Client(
            request_timeout=policy.timeout,
            raise_for_status=False,
            request_max_attempts=policy.max_attempts,
            request_backoff_factor=policy.backoff_factor,
            request_max_retry_delay=policy.max_delay,
            respect_retry_after_header=True,
        ).session
        # requests re-reads proxy and CA variables from the environment on every request (a
        # tenth of the client's time on big listings): read them once here instead.
        session.trust_env = False
        session.proxies = urllib.request.getproxies()
        if verify is True:
            verify = (
                os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
            )
        session.verify = verify
        # A session hook, so it runs inside dlt's retried `send` for every request: a body cut
        # off mid-way raises there and the request is retried, exactly as with requests' own read.
        session.hooks["response"].append(_read_body)
        super().__init__(base_url=base_url, headers=headers, session=session)
        self.system = system
        self._error_detail = error_detail or _default_error_detail

    def _log_request(self, request: Request, prepared_url: str) -> None:
        # dlt logs headers at debug level; the Authorization header must never reach a log.
        if log.isEnabledFor(logging.DEBUG):
            log.debug("request %s", endpoint_of(str(request.method), prepared_url))

    def _create_response_handler(self) -> Any:
        # Response hooks run inside the retried `send`: raising there would end the retries.
        # The final response is checked in `_send_request` instead. The hook `paginate` sets
        # replaces the session's (requests merges hook lists by key), so it reads the body too.
        return _read_body

    def check(self, response: Response) -> None:
        """Raise `SourceError`/`SourceAuthError` for a failed (already retried) response."""
        if response.status_code < 400:
            return
        endpoint = endpoint_of(str(response.request.method or "GET"), response.url)
        if response.status_code in (401, 403):
            raise SourceAuthError(self.system, endpoint, response.status_code)
        try:
            detail = self._error_detail(parsed(response))
        except ValueError:
            detail = response.reason or ""
        raise SourceError(
            self.system,
            endpoint,
            f"HTTP {response.status_code} {detail}".strip(),
            response.status_code,
        )

    def _send_request(self, request: Request, **kwargs: Any) -> Response:
        try:
            response = super()._send_request(request, **kwargs)
        except RequestException as exc:
            endpoint = endpoint_of(str(request.method or "GET"), str(request.url or ""))
            # The exception text of a dropped connection names host and port only.
            raise SourceError(self.system, endpoint, type(exc).__name__ + f": {exc}") from None
        self.check(response)
        return response

    def extract_response(self, response: Response, data_selector: Any) -> list[Any]:
        """The records of one page: `data_selector` is a plain top-level key here."""
        body = parsed(response)
        data = body.get(data_selector) if isinstance(body, dict) else body
        return list(data or [])

    def pages(
        self,
        path: str,
        *,
        paginator: BasePaginator,
        data_key: str,
        method: str = "GET",
        params: dict[str, Any] | None = None,
        json: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Iterator[PageData[Any]]:
        """Every page of one listing, followed with `paginator`."""
        yield from self.paginate(
            path,
            method=method,  # type: ignore[arg-type]
            params=params,
            json=json,
            headers=headers,
            paginator=paginator,
            data_selector=data_key,
        )

    def get_json(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """One GET, checked and parsed."""
        response = self.get(path, params=params)
        self.check(response)
        return parsed(response)


def _read_body(response: Response, *args: Any, **kwargs: Any) -> None:
    """Read a response's body in large reads, as `Response.content` would in 10 KB ones.

    requests' hooks run before `send` reads the body (unless `stream=True` was asked for, which
    is left alone); this fills the same two fields `Response.content` fills, through
    `iter_content`, so requests' mapping of urllib3's errors (a dropped connection becomes
    `ChunkedEncodingError`/`ConnectionError`, which dlt retries) is kept.
    """
    if kwargs.get("stream") or response.raw is None or response._content is not False:
        return
    response._content = b"".join(response.iter_content(BODY_READ_SIZE)) or b""
    response._content_consumed = True


def _default_error_detail(body: Any) -> str:
    return str(body)[:300]
