"""Stripe API client of the billing source: pinned version, `starting_after` paging, lines."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ingestion.http import RetryPolicy, SourceError, VendorClient
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
        """Every page of `/v1/<resource>` as its records and its raw body (for conversion
        elsewhere: see `ingestion.sources.billing.convert`)."""
        query = {"limit": PAGE_LIMIT, **(params or {})}
        for page in self.http.pages(
            f"/v1/{resource}", paginator=StripeCursorPaginator(), data_key="data", params=query
        ):
            yield list(page), page.response.content

    def more_line_pages(self, invoice: dict[str, Any]) -> list[tuple[list[dict[str, Any]], bytes]]:
        """The pages of an invoice's lines past the embedded ones (none when all are embedded)."""
        embedded = invoice.get("lines") or {}
        lines = embedded.get("data") or []
        if not (embedded.get("has_more") and lines):
            return []
        path = (embedded.get("url") or f"/v1/invoices/{invoice['id']}/lines").lstrip("/")
        path = path.removeprefix("v1/")
        return list(self.list_pages_raw(path, {"starting_after": lines[-1]["id"]}))

    def all_lines(self, invoice: dict[str, Any]) -> list[dict[str, Any]]:
        """Every line of an invoice: the embedded ones, paged past them when `has_more`."""
        lines = list((invoice.get("lines") or {}).get("data") or [])
        for page, _ in self.more_line_pages(invoice):
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
