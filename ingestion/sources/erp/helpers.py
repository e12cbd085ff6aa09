"""NetSuite SuiteQL client of the ERP source: POST with `Prefer: transient`, `links` paging."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ingestion.http import RetryPolicy, VendorClient
from ingestion.paginators import NetSuiteLinksPaginator
from ingestion.sources.erp.settings import PAGE_LIMIT

QUERY_PATH = "/services/rest/query/v1/suiteql"


def _netsuite_error(body: Any) -> str:
    if isinstance(body, dict):
        details = body.get("o:errorDetails") or []
        text = "; ".join(f"{d.get('o:errorCode', '')}: {d.get('detail', '')}" for d in details if d)
        return text or str(body.get("title", ""))
    return str(body)[:300]


class SuiteQLClient:
    """Runs SuiteQL queries page by page."""

    def __init__(
        self,
        base_url: str,
        access_token: str,
        *,
        retry: RetryPolicy | None = None,
        verify: str | bool = True,
    ) -> None:
        self.http = VendorClient(
            "erp",
            base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {access_token}", "Prefer": "transient"},
            retry=retry,
            verify=verify,
            error_detail=_netsuite_error,
        )

    def query(self, q: str) -> Iterator[list[dict[str, Any]]]:
        """Every page of one SuiteQL query (at most 100,000 rows: NetSuite's ceiling)."""
        for page in self.http.pages(
            QUERY_PATH,
            method="POST",
            params={"limit": PAGE_LIMIT, "offset": 0},
            json={"q": q},
            paginator=NetSuiteLinksPaginator(),
            data_key="items",
        ):
            yield list(page)
