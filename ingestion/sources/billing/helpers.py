"""Stripe API client of the billing source: pinned version, `starting_after` paging, lines."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec
import orjson

from ingestion.http import RetryPolicy, SourceError, VendorClient, endpoint_of
from ingestion.paginators import StripeCursorPaginator
from ingestion.sources.billing.settings import PAGE_LIMIT, STRIPE_VERSION


def _stripe_error(body: Any) -> str:
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return f"{error.get('type', '')}: {error.get('message', '')}"
    return str(body)[:300]


class StripeClient:
    """The few Stripe v1 calls the source makes."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        retry: RetryPolicy | None = None,
        verify: str | bool = True,
    ) -> None:
        self.http = VendorClient(
            "billing",
            base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {api_key}", "Stripe-Version": STRIPE_VERSION},
            retry=retry,
            verify=verify,
            error_detail=_stripe_error,
        )
        self._settings = (base_url, api_key, retry, verify)

    def fork(self) -> StripeClient:
        """A client with the same settings and its own HTTP session and connections, for
        another thread (a `requests` session is not documented as safe to share)."""
        base_url, api_key, retry, verify = self._settings
        return StripeClient(base_url, api_key, retry=retry, verify=verify)

    def list_pages(
        self, resource: str, params: dict[str, Any] | None = None
    ) -> Iterator[list[dict[str, Any]]]:
        """Every page of `/v1/<resource>`, newest first.

        Args:
            resource: list endpoint, e.g. `invoices` or `invoices/in_123/lines`.
            params: filters (`created[gte]`, `status`, ...).
        """
        query = {"limit": PAGE_LIMIT, **(params or {})}
        for page in self.http.pages(
            f"/v1/{resource}", paginator=StripeCursorPaginator(), data_key="data", params=query
        ):
            yield list(page)

    def list_pages_raw(
        self, resource: str, params: dict[str, Any] | None = None
    ) -> Iterator[tuple[list[dict[str, Any]], bytes]]:
        """Every page of `/v1/<resource>` as its raw body, for conversion elsewhere (see
        `ingestion.sources.billing.convert`), with the little of each record that paging needs.

        The records are not parsed into Python objects here: a scan reads only `id`, `created`
        and an invoice's embedded `lines` paging fields (`has_more`, `url`, the last line's id),
        at a quarter of a full parse's cost; the body is parsed once, where it is converted.

        Args:
            resource: list endpoint, e.g. `invoices` or `invoices/in_123/lines`.
            params: filters (`created[gte]`, `status`, ...).
        """
        path = f"/v1/{resource}"
        query = {"limit": PAGE_LIMIT, **(params or {})}
        while True:
            response = self.http.get(path, params=query)
            self.http.check(response)
            body = response.content
            refs, has_more = scan_page(body, endpoint_of("GET", path))
            yield refs, body
            if not (has_more and refs):
                return
            last = refs[-1].get("id")
            if not isinstance(last, str) or not last:
                raise SourceError(
                    "billing", endpoint_of("GET", path), "a page ends with a record without an id"
                )
            query = {**query, "starting_after": last}

    def more_line_bodies(self, invoice: dict[str, Any]) -> list[bytes]:
        """The raw pages of an invoice's lines past the embedded ones (none when all are
        embedded); `invoice` may be a full record or a `list_pages_raw` reference."""
        after = _lines_after(invoice)
        if after is None:
            return []
        path, last = after
        return [body for _, body in self.list_pages_raw(path, {"starting_after": last})]

    def more_line_pages(self, invoice: dict[str, Any]) -> list[list[dict[str, Any]]]:
        """The lines of an invoice past the embedded ones, page by page, parsed."""
        after = _lines_after(invoice)
        if after is None:
            return []
        path, last = after
        return list(self.list_pages(path, {"starting_after": last}))

    def all_lines(self, invoice: dict[str, Any]) -> list[dict[str, Any]]:
        """Every line of an invoice: the embedded ones, paged past them when `has_more`."""
        lines = list((invoice.get("lines") or {}).get("data") or [])
        for page in self.more_line_pages(invoice):
            lines.extend(page)
        return lines

    def retrieve(self, resource: str, object_id: str) -> dict[str, Any] | None:
        """One object, or None when it no longer exists (404)."""
        try:
            body = self.http.get_json(f"/v1/{resource}/{object_id}")
        except SourceError as exc:
            if exc.status == 404:
                return None
            raise
        return body if isinstance(body, dict) else None

    def newest_event(self) -> dict[str, Any] | None:
        """The most recent event (the horizon of this run), or None when there is none."""
        body = self.http.get_json("/v1/events", {"limit": 1})
        data = body.get("data") or []
        return data[0] if data else None


def _lines_after(invoice: dict[str, Any]) -> tuple[str, str] | None:
    """(lines path, last embedded line id) when an invoice has lines past the embedded ones."""
    embedded = invoice.get("lines") or {}
    lines = embedded.get("data") or []
    if not (embedded.get("has_more") and lines and isinstance(lines[-1], dict)):
        return None
    last = lines[-1].get("id")
    if not last:
        return None
    path = (embedded.get("url") or f"/v1/invoices/{invoice['id']}/lines").lstrip("/")
    return path.removeprefix("v1/"), str(last)


class _Ref(msgspec.Struct):
    """An object of a list page as far as paging needs it (every other field is skipped)."""

    id: Any = None
    created: Any = None
    lines: _Embedded | None = None


class _Embedded(msgspec.Struct):
    """An invoice's embedded line list: its paging fields and the lines' ids."""

    has_more: Any = False
    url: Any = None
    data: list[_Ref] = []


class _Page(msgspec.Struct):
    data: list[_Ref] = []
    has_more: Any = False


_SCAN = msgspec.json.Decoder(_Page)


def _ref(obj: _Ref) -> dict[str, Any]:
    ref: dict[str, Any] = {"id": obj.id, "created": obj.created}
    if obj.lines is not None:
        last = obj.lines.data[-1].id if obj.lines.data else None
        ref["lines"] = {
            "has_more": obj.lines.has_more,
            "url": obj.lines.url,
            "data": [{"id": last}] if obj.lines.data else [],
        }
    return ref


def scan_page(body: bytes, endpoint: str) -> tuple[list[dict[str, Any]], bool]:
    """The paging references of a Stripe list page and its `has_more`.

    A page whose records are not shaped as expected (a record that is not an object, `lines`
    that is not a list object, ...) is parsed in full instead, so the conversion can quarantine
    what it cannot land; a body that is not JSON is an error naming the endpoint.
    """
    try:
        page = _SCAN.decode(body)
    except msgspec.ValidationError:
        pass
    except msgspec.DecodeError as exc:
        raise SourceError("billing", endpoint, f"the response is not JSON ({exc})") from None
    else:
        return [_ref(o) for o in page.data], page.has_more is True
    full = orjson.loads(body)
    if not isinstance(full, dict):
        raise SourceError("billing", endpoint, "the response is not a list object")
    refs: list[dict[str, Any]] = []
    for obj in full.get("data") or []:
        if not isinstance(obj, dict):
            refs.append({})
            continue
        ref = {"id": obj.get("id"), "created": obj.get("created")}
        if isinstance(obj.get("lines"), dict):
            ref["lines"] = obj["lines"]
        refs.append(ref)
    return refs, full.get("has_more") is True
