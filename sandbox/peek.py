"""Fetch a few records from each running sandbox API over HTTP (the demo's window on the data)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx

from sandbox.schema import SALESFORCE_API_VERSION, STORED_STRIPE_VERSION, SandboxPaths
from sandbox.server import ServeOptions, running


def peek(paths: SandboxPaths, options: ServeOptions, rows: int) -> Iterator[tuple[str, Any]]:
    """Serve the sandbox in-process and yield (title, JSON payload) for each API.

    Args:
        paths: the generated sandbox.
        options: ports, tokens and faults (free ports are fine).
        rows: how many records to ask each API for.
    """
    with running(paths, options) as sandbox:
        urls = sandbox.urls
        tokens = options.tokens
        with httpx.Client(timeout=30) as http:
            soql = (
                "SELECT Id, Name, Website, BillingCountry, SystemModstamp FROM Account "
                f"ORDER BY SystemModstamp DESC LIMIT {rows}"
            )
            crm = http.get(
                f"{urls['crm']}/services/data/{SALESFORCE_API_VERSION}/query",
                params={"q": soql},
                headers={"Authorization": f"Bearer {tokens['crm']}"},
            )
            crm.raise_for_status()
            yield f"CRM  {urls['crm']}  SOQL: {soql}", crm.json()

            billing = http.get(
                f"{urls['billing']}/v1/invoices",
                params={"limit": rows},
                headers={
                    "Authorization": f"Bearer {tokens['billing']}",
                    "Stripe-Version": STORED_STRIPE_VERSION,
                },
            )
            billing.raise_for_status()
            body = billing.json()
            for invoice in body.get("data", []):
                lines = invoice.get("lines", {})
                lines["data"] = lines.get("data", [])[:1]  # one line is enough to see the shape
            yield f"billing  {urls['billing']}  GET /v1/invoices?limit={rows}", body

            suiteql = (
                "SELECT id, tranid, type, trandate, entity, currency, foreigntotal, status, "
                "externalid FROM transaction WHERE type = 'CustInvc' ORDER BY id DESC"
            )
            erp = http.post(
                f"{urls['erp']}/services/rest/query/v1/suiteql",
                params={"limit": rows},
                json={"q": suiteql},
                headers={"Authorization": f"Bearer {tokens['erp']}", "Prefer": "transient"},
            )
            erp.raise_for_status()
            yield f"ERP  {urls['erp']}  SuiteQL: {suiteql}", erp.json()
