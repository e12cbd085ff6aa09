"""dlt REST client paginators for the three vendors' paging schemes.

- Stripe: `starting_after=<last id of the page>` while `has_more` (no page numbers, no totals).
- Salesforce: follow `nextRecordsUrl` until `done`; batches may be short, so never count.
- NetSuite SuiteQL: follow the `links[rel=next]` href (a POST with the same body) while
  `hasMore`.
"""

from __future__ import annotations

from typing import Any

from dlt.sources.helpers.rest_client.paginators import BaseNextUrlPaginator, BasePaginator
from requests import Request, Response

from ingestion.http import parsed


class StripeCursorPaginator(BasePaginator):
    """Stripe lists: the next page starts after the last object of this one."""

    def __init__(self) -> None:
        super().__init__()
        self.last_id: str | None = None

    def update_state(self, response: Response, data: list[Any] | None = None) -> None:
        """Remember the last id while `has_more`."""
        body = parsed(response)
        page = body.get("data") or []
        self._has_next_page = bool(body.get("has_more")) and bool(page)
        self.last_id = page[-1]["id"] if page else None

    def update_request(self, request: Request) -> None:
        """Ask for the page after the last id."""
        if self.last_id is not None:
            params = dict(request.params or {})  # type: ignore[arg-type]
            params["starting_after"] = self.last_id
            request.params = params


class SalesforceNextRecordsPaginator(BaseNextUrlPaginator):
    """Salesforce SOQL: GET `nextRecordsUrl` until `done` is true."""

    def update_state(self, response: Response, data: list[Any] | None = None) -> None:
        """Take `nextRecordsUrl` unless the query is done."""
        body = parsed(response)
        next_url = None if body.get("done", True) else body.get("nextRecordsUrl")
        self._next_reference = next_url
        self._has_next_page = next_url is not None


class NetSuiteLinksPaginator(BaseNextUrlPaginator):
    """NetSuite SuiteQL: POST the same query to the `next` link while `hasMore`."""

    def update_state(self, response: Response, data: list[Any] | None = None) -> None:
        """Find the `rel=next` href."""
        body = parsed(response)
        href = None
        if body.get("hasMore"):
            href = next(
                (link.get("href") for link in body.get("links") or [] if link.get("rel") == "next"),
                None,
            )
        self._next_reference = href
        self._has_next_page = href is not None
