"""NetSuite's `deletedrecord` in the ERP sandbox: record API deletes are listed, stamped with
the sandbox clock, served by SuiteQL, and deleted ids are never handed out again."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from sandbox import schema
from sandbox.erp import create_app
from sandbox.testing import serve
from tests.sandbox.test_erp_fixtures import NOW, build

R = "/services/rest/record/v1"
QUERY = "/services/rest/query/v1/suiteql"


@pytest.fixture
def env(tmp_path: Any) -> Iterator[tuple[httpx.Client, schema.SandboxPaths]]:
    paths = build(tmp_path, n_invoices=11, n_customers=4)
    with serve(create_app(paths)) as base, httpx.Client(base_url=base, timeout=30) as client:
        yield client, paths


def suiteql(client: httpx.Client, text: str) -> list[dict[str, Any]]:
    r = client.post(QUERY, json={"q": text}, headers={"Prefer": "transient"})
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


def created_id(r: httpx.Response) -> int:
    assert r.status_code == 204, r.text
    return int(r.headers["location"].rsplit("/", 1)[1])


def test_deletes_are_listed_with_the_sandbox_clock(
    env: tuple[httpx.Client, schema.SandboxPaths],
) -> None:
    client, _ = env
    assert suiteql(client, "SELECT * FROM deletedrecord") == []
    cid = created_id(
        client.post(f"{R}/customer", json={"companyName": "Gone Co", "subsidiary": {"id": "1"}})
    )
    pid = created_id(
        client.post(
            f"{R}/customerpayment",
            json={"customer": {"id": "1"}, "payment": 50, "apply": {"items": [
                {"doc": {"id": "1"}, "apply": True, "amount": 50}]}},
        )
    )  # fmt: skip
    tranid = suiteql(client, f"SELECT tranid FROM transaction WHERE id = {pid}")[0]["tranid"]
    assert client.delete(f"{R}/invoice/11").status_code == 204
    assert client.delete(f"{R}/customer/{cid}").status_code == 204
    assert client.delete(f"{R}/customerpayment/{pid}").status_code == 204
    rows = suiteql(
        client,
        "SELECT recordtypeid, recordid, name, deleteddate, context, "
        "TO_CHAR(deleteddate, 'YYYY-MM-DD HH24:MI:SS') AS at, iscustomrecord "
        "FROM deletedrecord ORDER BY recordtypeid, recordid",
    )
    day = "3/15/2025"  # the fixture clock, in the account's date format
    assert rows == [
        {"links": [], "recordtypeid": "customer", "recordid": str(cid), "name": "Gone Co",
         "deleteddate": day, "context": "RESTWEBSERVICES", "at": NOW, "iscustomrecord": "F"},
        {"links": [], "recordtypeid": "customerpayment", "recordid": str(pid),
         "name": f"Payment #{tranid}", "deleteddate": day, "context": "RESTWEBSERVICES",
         "at": NOW, "iscustomrecord": "F"},
        {"links": [], "recordtypeid": "invoice", "recordid": "11", "name": "Invoice #INV0000011",
         "deleteddate": day, "context": "RESTWEBSERVICES", "at": NOW, "iscustomrecord": "F"},
    ]  # fmt: skip
    # the payment's application went with it
    assert suiteql(client, f"SELECT * FROM previoustransactionlink WHERE nextdoc = {pid}") == []
    # a refused delete lists nothing
    assert client.delete(f"{R}/customer/1").status_code == 400
    assert len(suiteql(client, "SELECT recordid FROM deletedrecord")) == 3


def test_deleted_ids_and_line_keys_are_not_reused(
    env: tuple[httpx.Client, schema.SandboxPaths],
) -> None:
    client, _ = env
    top_line = int(suiteql(client, "SELECT MAX(uniquekey) AS k FROM transactionline")[0]["k"])
    assert client.delete(f"{R}/invoice/11").status_code == 204  # the newest invoice
    body = {"entity": {"id": "1"}, "tranDate": "2025-03-10",
            "item": {"items": [{"item": {"id": "1"}, "amount": 10}]}}  # fmt: skip
    new_id = created_id(client.post(f"{R}/invoice", json=body))
    assert new_id == 12
    keys = [
        int(r["uniquekey"])
        for r in suiteql(
            client, f"SELECT uniquekey FROM transactionline WHERE transaction = {new_id}"
        )
    ]
    assert min(keys) > top_line
    cid = created_id(
        client.post(f"{R}/customer", json={"companyName": "A", "subsidiary": {"id": "1"}})
    )
    assert client.delete(f"{R}/customer/{cid}").status_code == 204
    again = created_id(
        client.post(f"{R}/customer", json={"companyName": "B", "subsidiary": {"id": "1"}})
    )
    assert again == cid + 1
