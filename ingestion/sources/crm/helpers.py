"""Salesforce REST client of the CRM source: describe, and SOQL through `queryAll` paging."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ingestion.http import RetryPolicy, VendorClient
from ingestion.paginators import SalesforceNextRecordsPaginator
from ingestion.sources.crm.settings import API_VERSION, BATCH_SIZE


def _salesforce_error(body: Any) -> str:
    if isinstance(body, list) and body and isinstance(body[0], dict):
        return "; ".join(f"{e.get('errorCode', '')}: {e.get('message', '')}" for e in body)
    return str(body)[:300]


class SalesforceClient:
    """The Salesforce REST calls the CRM source makes."""

    def __init__(
        self,
        base_url: str,
        access_token: str,
        *,
        retry: RetryPolicy | None = None,
        verify: str | bool = True,
        batch_size: int = BATCH_SIZE,
    ) -> None:
        self.http = VendorClient(
            "crm",
            base_url.rstrip("/"),
            headers={
                "Authorization": f"Bearer {access_token}",
                "Sforce-Query-Options": f"batchSize={batch_size}",
            },
            retry=retry,
            verify=verify,
            error_detail=_salesforce_error,
        )
        self.base = f"/services/data/{API_VERSION}"

    def describe(self, sobject: str) -> dict[str, Any]:
        """`GET /sobjects/<Object>/describe`: the object's fields and their types."""
        body: dict[str, Any] = self.http.get_json(f"{self.base}/sobjects/{sobject}/describe")
        return body

    def query_all(self, soql: str) -> Iterator[list[dict[str, Any]]]:
        """Every batch of a SOQL query, deleted rows included (`queryAll`).

        Batches may be shorter than asked: the loop follows `nextRecordsUrl` until `done`.
        """
        for page in self.http.pages(
            f"{self.base}/queryAll",
            params={"q": soql},
            paginator=SalesforceNextRecordsPaginator(),
            data_key="records",
        ):
            yield list(page)
