"""Record API of the ERP sandbox: reads, writes, payments, the credit memo transform, closed
periods, ETag/If-Match and idempotent replays, checked over HTTP and in erp.sqlite."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from sandbox import schema
from sandbox.erp import create_app
from sandbox.testing import serve
from tests.sandbox.test_erp_fixtures import build

R = "/services/rest/record/v1"
QUERY = "/services/rest/query/v1/suiteql"
# Fixture facts (8 customers, 30 invoices; see test_erp_fixtures.build):
USD_CUSTOMER = 1  # subsidiary 1, USD; owns invoices 1 (Feb, 300.00), 9 (Jan: closed), 17 (Mar)
EUR_CUSTOMER = 2  # subsidiary 2, EUR; owns invoice 2 (Mar, 600.00)
JPY_CUSTOMER = 4
CLOSED_INVOICE = 9  # trandate in January 2025, a closed period


@pytest.fixture
def env(tmp_path: Path) -> Iterator[tuple[httpx.Client, schema.SandboxPaths]]:
    paths = build(tmp_path, n_invoices=30, n_customers=8)
    with serve(create_app(paths)) as base, httpx.Client(base_url=base, timeout=30) as client:
        yield client, paths


def db(paths: schema.SandboxPaths) -> sqlite3.Connection:
    con = sqlite3.connect(paths.erp)
    con.row_factory = sqlite3.Row
    return con


def count(paths: schema.SandboxPaths, sql: str, *params: Any) -> int:
    return int(db(paths).execute(sql, params).fetchone()[0])


def created_id(r: Any) -> int:
    assert r.status_code == 204, r.text
    assert r.content == b""
    return int(r.headers["location"].rsplit("/", 1)[1])


def error(r: Any, status: int = 400) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"type", "title", "status", "o:errorDetails"} and body["status"] == status
    return body["o:errorDetails"][0]


def suiteql(client: httpx.Client, text: str) -> list[dict[str, Any]]:
    r = client.post(QUERY, json={"q": text}, headers={"Prefer": "transient"})
    assert r.status_code == 200, r.text
    return r.json()["items"]


def invoice_body(customer: int = USD_CUSTOMER, **extra: Any) -> dict[str, Any]:
    return {
        "entity": {"id": str(customer)},
        "tranDate": "2025-03-10",
        "item": {
            "items": [
                {"item": {"id": "1"}, "quantity": 3, "rate": 12.5, "description": "Seats"},
                {"item": {"id": "2"}, "amount": 100.10, "custcol_cl_service_start": "2025-03-01"},
            ]
        },
        **extra,
    }


# --------------------------------------------------------------------------------------
# Reads
# --------------------------------------------------------------------------------------


def test_get_invoice_shape_and_etag(env: tuple[httpx.Client, schema.SandboxPaths]) -> None:
    client, _ = env
    r = client.get(f"{R}/invoice/1")
    assert r.status_code == 200 and r.headers["etag"] == '"1"'
    inv = r.json()
    assert inv["id"] == "1" and inv["tranId"] == "INV0000001" and inv["tranDate"] == "2025-02-02"
    assert inv["entity"]["id"] == "1" and inv["entity"]["refName"] == "Company 1"
    assert inv["currency"] == {
        "links": [{"rel": "self", "href": str(client.base_url).rstrip("/") + R + "/currency/1"}],
        "id": "1",
        "refName": "US Dollar",
    }
    assert inv["status"] == {"id": "A", "refName": "Open"}
    assert inv["postingPeriod"]["refName"] == "Feb 2025"
    assert '"total":300.00' in r.text  # the stored digits, as a JSON number
    assert inv["lastModifiedDate"].endswith("Z") and "T" in inv["lastModifiedDate"]
    lines = inv["item"]["items"]
    assert [(ln["item"]["id"], ln["amount"]) for ln in lines] == [("1", 100.0), ("2", 200.0)]


def test_get_by_external_id_and_not_found(env: tuple[httpx.Client, schema.SandboxPaths]) -> None:
    client, _ = env
    assert client.get(f"{R}/customer/eid:001C3").json()["companyName"] == "Company 3"
    assert client.get(f"{R}/invoice/eid:in_000002").json()["id"] == "2"
    assert error(client.get(f"{R}/customer/999"), 404)["o:errorCode"] == "NONEXISTENT_ID"
    assert error(client.get(f"{R}/customerpayment/2"), 404)["o:errorCode"] == "NONEXISTENT_ID"
    error(client.get(f"{R}/customer/eid:nope"), 404)
    error(client.get(f"{R}/salesorder/1"), 404)
    error(client.get(f"{R}/customer/abc"), 400)
    error(client.get(f"{R}/customer/{'9' * 40}"), 400)
    error(client.get(f"{R}/customer/1?fields=email"), 400)
    error(client.get(f"{R}/customer/1?expandSubResources=maybe"), 400)
    assert client.get(f"{R}/invoice/1?expandSubResources=true").status_code == 200


# --------------------------------------------------------------------------------------
# Customer writes, versions, external ids
# --------------------------------------------------------------------------------------


def test_create_customer_is_visible_to_suiteql(
    env: tuple[httpx.Client, schema.SandboxPaths],
) -> None:
    client, paths = env
    r = client.post(
        f"{R}/customer",
        json={"companyName": "Acme GmbH", "subsidiary": {"id": "2"}, "externalId": "001NEW",
              "email": "ap@acme.de", "custentity_cl_tax_id": "DE123", "isInactive": False},
    )  # fmt: skip
    cid = created_id(r)
    assert r.headers["location"] == f"{str(client.base_url).rstrip('/')}{R}/customer/{cid}"
    got = client.get(r.headers["location"])
    assert got.headers["etag"] == '"1"'
    assert got.json()["currency"]["id"] == "2"  # defaults to the subsidiary's currency
    rows = suiteql(
        client,
        "select id, companyname, TO_CHAR(lastmodifieddate, 'YYYY-MM-DD HH24:MI:SS') lmd, "
        "TO_CHAR(datecreated, 'YYYY-MM-DD HH24:MI:SS') created from customer "
        "where lastmodifieddate >= TO_TIMESTAMP('2025-03-15 12:00:00', 'YYYY-MM-DD HH24:MI:SS') "
        "and externalid = '001NEW'",
    )
    # Stamped with the sandbox clock (manifest.json), not wall time.
    assert rows == [{"links": [], "id": str(cid), "companyname": "Acme GmbH",
                     "lmd": "2025-03-15 12:00:00", "created": "2025-03-15 12:00:00"}]  # fmt: skip
    assert count(paths, "select count(*) from _write_log where record_id=?", cid) == 1


def test_customer_write_errors(env: tuple[httpx.Client, schema.SandboxPaths]) -> None:
    client, paths = env
    ok = {"companyName": "X", "subsidiary": {"id": "1"}}
    cases = [
        ({**ok, "externalId": "001C3"}, "DUP_RCRD"),  # externalId unique per record type
        ({**ok, "nickname": "x"}, "INVALID_FIELD"),
        ({**ok, "id": "5"}, "INVALID_PARAMETER"),
        ({"subsidiary": {"id": "1"}}, "USER_ERROR"),
        ({"companyName": "X"}, "USER_ERROR"),
        ({**ok, "subsidiary": {"id": "99"}}, "INVALID_PARAMETER"),
        ({**ok, "subsidiary": "1"}, "INVALID_PARAMETER"),
        ({**ok, "isInactive": "F"}, "INVALID_PARAMETER"),
        ({**ok, "email": 5}, "INVALID_PARAMETER"),
    ]
    for body, code in cases:
        assert error(client.post(f"{R}/customer", json=body))["o:errorCode"] == code, body
    for raw in (b"{", b"[1]", b"", b'"x"', b"[" * 100_000 + b"]" * 100_000, b'{"a": NaN}'):
        error(client.post(f"{R}/customer", content=raw))
    error(client.post(f"{R}/customer", content=b"{}" + b" " * 2_000_000), 413)
    error(client.get(f"{R}/customer"), 405)
    assert count(paths, "select count(*) from _write_log") == 0
    assert count(paths, "select count(*) from _write_unapplied where outcome='rejected'") >= 9


def test_patch_bumps_version_and_if_match(env: tuple[httpx.Client, schema.SandboxPaths]) -> None:
    client, paths = env
    assert client.get(f"{R}/customer/3").headers["etag"] == '"1"'
    assert client.patch(f"{R}/customer/3", json={"email": "new@x.com"}).status_code == 204
    got = client.get(f"{R}/customer/3")
    assert got.headers["etag"] == '"2"' and got.json()["email"] == "new@x.com"
    stale = client.patch(f"{R}/customer/3", json={"email": "b@x"}, headers={"If-Match": '"1"'})
    assert error(stale, 412)["o:errorCode"] == "PRECONDITION_FAILED"
    assert client.get(f"{R}/customer/3").json()["email"] == "new@x.com"  # nothing applied
    fresh = client.patch(f"{R}/customer/3", json={"email": "c@x"}, headers={"If-Match": '"2"'})
    assert fresh.status_code == 204
    assert client.get(f"{R}/customer/3").headers["etag"] == '"3"'
    error(client.delete(f"{R}/customer/3", headers={"If-Match": '"2"'}), 412)
    assert count(paths, "select count(*) from _write_log where record_id=3") == 2


def test_put_eid_upserts(env: tuple[httpx.Client, schema.SandboxPaths]) -> None:
    client, paths = env
    body = {"companyName": "Upsert Co", "subsidiary": {"id": "3"}}
    new_id = created_id(client.put(f"{R}/customer/eid:001UP", json=body))
    assert client.get(f"{R}/customer/eid:001UP").json()["id"] == str(new_id)
    same = created_id(client.put(f"{R}/customer/eid:001UP", json={"email": "u@x"}))
    assert same == new_id
    assert client.get(f"{R}/customer/{new_id}").json()["email"] == "u@x"
    assert count(paths, "select count(*) from customer where externalid='001UP'") == 1
    assert error(client.put(f"{R}/customer/3", json=body))["o:errorCode"] == "INVALID_REQUEST"
    error(client.put(f"{R}/customer/eid:001UP", json={"externalId": "other"}))
    error(client.put(f"{R}/customer/eid:", json=body))
    error(client.put(f"{R}/customer/eid:001ZZ", json={"email": "x"}))  # create needs fields
    # Invoices upsert the same way (the write-back's path for a missing ERP invoice).
    inv = created_id(client.put(f"{R}/invoice/eid:in_UPSERT", json=invoice_body()))
    assert client.get(f"{R}/invoice/eid:in_UPSERT").json()["id"] == str(inv)
    again = created_id(client.put(f"{R}/invoice/eid:in_UPSERT", json={"memo": "m"}))
    assert again == inv and client.get(f"{R}/invoice/{inv}").headers["etag"] == '"2"'


def test_delete_customer(env: tuple[httpx.Client, schema.SandboxPaths]) -> None:
    client, _ = env
    assert error(client.delete(f"{R}/customer/1"))["o:errorCode"] == "USER_ERROR"  # has invoices
    cid = created_id(
        client.post(f"{R}/customer", json={"companyName": "D", "subsidiary": {"id": "1"}})
    )
    assert client.delete(f"{R}/customer/{cid}").status_code == 204
    error(client.get(f"{R}/customer/{cid}"), 404)
    error(client.delete(f"{R}/customer/{cid}"), 404)
    error(client.request("DELETE", f"{R}/customer/2", content=b'{"x": 1}'))


# --------------------------------------------------------------------------------------
# Invoices
# --------------------------------------------------------------------------------------


def test_create_invoice_writes_header_and_lines(
    env: tuple[httpx.Client, schema.SandboxPaths],
) -> None:
    client, paths = env
    iid = created_id(client.post(f"{R}/invoice", json=invoice_body(externalId="in_NEW")))
    con = db(paths)
    t = con.execute('select * from "transaction" where id=?', (iid,)).fetchone()
    assert (t["type"], t["foreigntotal"], t["foreignamountunpaid"], t["status"]) == (
        "CustInvc", "137.60", "137.60", "A")  # fmt: skip
    assert (t["postingperiod"], t["currency"], t["externalid"]) == (3, 1, "in_NEW")
    assert t["tranid"] == "INV0000031"  # the next document number after the fixture's 30
    lines = con.execute(
        "select id, mainline, item, rate, foreignamount, memo, custcol_cl_service_start "
        'from transactionline where "transaction"=? order by id',
        (iid,),
    ).fetchall()
    assert [tuple(ln) for ln in lines] == [
        (0, "T", None, None, "137.60", None, None),
        (1, "F", 1, "12.5", "37.50", "Seats", None),
        (2, "F", 2, None, "100.10", None, "2025-03-01"),
    ]
    dup = client.post(f"{R}/invoice", json=invoice_body(externalId="in_NEW"))
    assert error(dup)["o:errorCode"] == "DUP_RCRD"


def test_foreign_currency_invoice_net_amount(env: tuple[httpx.Client, schema.SandboxPaths]) -> None:
    client, paths = env
    # A USD invoice for a customer of the EUR subsidiary: rate USD->EUR from the USD table.
    body = invoice_body(EUR_CUSTOMER, currency={"id": "1"})
    iid = created_id(client.post(f"{R}/invoice", json=body))
    con = db(paths)
    rate = con.execute('select exchangerate from "transaction" where id=?', (iid,)).fetchone()[0]
    assert Decimal(str(rate)) == (Decimal(1) / Decimal("1.085")).quantize(Decimal("0.000001"))
    main = con.execute(
        "select foreignamount, netamount, subsidiary from transactionline "
        "where \"transaction\"=? and mainline='T'",
        (iid,),
    ).fetchone()
    expected_net = (Decimal("137.60") * Decimal(str(rate))).quantize(Decimal("0.01"))
    assert (main[0], Decimal(main[1]), main[2]) == ("137.60", expected_net, 2)


def test_invoice_write_errors(env: tuple[httpx.Client, schema.SandboxPaths]) -> None:
    client, paths = env
    jpy = invoice_body(JPY_CUSTOMER)
    jpy["item"]["items"][1]["amount"] = 100.5  # JPY has no minor unit
    bad_bodies = [
        jpy,
        invoice_body(total=5),
        invoice_body(status={"id": "B"}),
        invoice_body(payment=5),
        invoice_body(entity="1"),
        invoice_body(entity={"id": "999"}),
        invoice_body(tranDate="03/10/2025"),
        invoice_body(item=[{"item": {"id": "1"}, "amount": 1}]),
        invoice_body(item={"items": [{"item": {"id": "1"}}]}),
        invoice_body(item={"items": [{"item": {"id": "1"}, "amount": 1, "color": "red"}]}),
        invoice_body(item={"items": [{"item": {"id": "77"}, "amount": 1}]}),
        invoice_body(item={"items": [{"item": {"id": "1"}, "amount": "lots"}]}),
        invoice_body(item={"items": [{"item": {"id": "1"}, "amount": True}]}),
        invoice_body(exchangeRate=-1),
        invoice_body(currency={"id": "9"}),
        invoice_body(entity={"id": "9" * 40}),
        invoice_body(item={"items": [{"item": {"id": "1"}, "amount": 10**40}]}),
        invoice_body(item={"items": [{"item": {"id": "1"}, "amount": "1e999999"}]}),
        {"tranDate": "2025-03-10", "item": {"items": []}},
        {"entity": {"id": "1"}},
    ]
    for body in bad_bodies:
        r = client.post(f"{R}/invoice", json=body)
        error(r)
    assert count(paths, 'select count(*) from "transaction"') == 30
    assert count(paths, "select count(*) from _write_log") == 0


def test_patch_invoice_lines_recomputes_total(
    env: tuple[httpx.Client, schema.SandboxPaths],
) -> None:
    client, paths = env
    r = client.patch(
        f"{R}/invoice/1",
        json={"memo": "fixed", "item": {"items": [{"item": {"id": "3"}, "amount": 999.99}]}},
    )
    assert r.status_code == 204, r.text
    inv = client.get(f"{R}/invoice/1").json()
    assert (inv["memo"], str(inv["total"]), str(inv["amountRemaining"])) == (
        "fixed", "999.99", "999.99")  # fmt: skip
    assert count(paths, 'select count(*) from transactionline where "transaction"=1') == 2
    rows = suiteql(
        client,
        "select t.foreigntotal, tl.foreignamount from transaction t join transactionline tl "
        "on tl.transaction = t.id where t.id = 1 and tl.mainline = 'T'",
    )
    assert rows == [{"links": [], "foreigntotal": "999.99", "foreignamount": "999.99"}]


# --------------------------------------------------------------------------------------
# Payments and the credit memo transform
# --------------------------------------------------------------------------------------


def test_payment_application_lowers_open_amount(
    env: tuple[httpx.Client, schema.SandboxPaths],
) -> None:
    client, paths = env
    r = client.post(
        f"{R}/customerpayment",
        content=b'{"customer": {"id": "1"}, "payment": 350.00, "externalId": "ch_1", '
        b'"apply": {"items": [{"doc": {"id": "1"}, "apply": true, "amount": 120.10}, '
        b'{"doc": {"id": "17"}, "apply": true, "amount": 229.90}]}}',
    )
    pid = created_id(r)
    inv1 = client.get(f"{R}/invoice/1")
    assert '"amountRemaining":179.90' in inv1.text and inv1.json()["status"]["id"] == "A"
    assert inv1.headers["etag"] == '"2"'  # the invoice changed, so its version moved
    links = suiteql(
        client,
        "select previousdoc, nextdoc, linktype, foreignamount from previoustransactionlink "
        "order by previousdoc",
    )
    assert links == [
        {"links": [], "previousdoc": "1", "nextdoc": str(pid), "linktype": "Payment",
         "foreignamount": "120.10"},
        {"links": [], "previousdoc": "17", "nextdoc": str(pid), "linktype": "Payment",
         "foreignamount": "229.90"},
    ]  # fmt: skip
    # Pay the rest of invoice 1: it is paid in full (status B) at 0.
    r2 = client.post(
        f"{R}/customerpayment",
        content=b'{"customer": {"id": "1"}, "payment": 179.90, '
        b'"apply": {"items": [{"doc": {"id": "1"}, "amount": 179.90}]}}',
    )
    pid2 = created_id(r2)
    row = suiteql(
        client,
        "select foreignamountunpaid, status, TO_CHAR(lastmodifieddate, 'YYYY-MM-DD HH24:MI:SS') "
        "from transaction where id = 1",
    )
    assert row == [
        {"links": [], "foreignamountunpaid": "0.00", "status": "B", "expr1": "2025-03-15 12:00:00"}
    ]
    payment = client.get(f"{R}/customerpayment/{pid}").json()
    assert payment["customer"]["id"] == "1" and payment["status"]["refName"] == "Deposited"
    assert [a["doc"]["id"] for a in payment["apply"]["items"]] == ["1", "17"]
    assert '"payment":350.00' in client.get(f"{R}/customerpayment/{pid}").text
    assert payment["unapplied"] == 0
    # Deleting a payment reopens what it paid.
    assert client.delete(f"{R}/customerpayment/{pid2}").status_code == 204
    row = suiteql(client, "select foreignamountunpaid, status from transaction where id = 1")
    assert row == [{"links": [], "foreignamountunpaid": "179.90", "status": "A"}]
    assert count(paths, "select count(*) from previoustransactionlink where nextdoc=?", pid2) == 0


def test_payment_application_errors(env: tuple[httpx.Client, schema.SandboxPaths]) -> None:
    client, paths = env
    cases = [
        b'{"customer": {"id": "1"}, "payment": 10, "apply": {"items": [{"doc": {"id": "1"}, '
        b'"amount": 300.01}]}}',  # more than the payment
        b'{"customer": {"id": "1"}, "payment": 400, "apply": {"items": [{"doc": {"id": "1"}, '
        b'"amount": 300.01}]}}',  # more than the open amount
        b'{"customer": {"id": "1"}, "payment": 10, "apply": {"items": [{"doc": {"id": "2"}, '
        b'"amount": 5}]}}',  # another customer's invoice
        b'{"customer": {"id": "1"}, "payment": 10, "apply": {"items": [{"doc": {"id": "999"}, '
        b'"amount": 5}]}}',
        b'{"customer": {"id": "1"}, "payment": 10, "apply": {"items": [{"amount": 5}]}}',
        b'{"customer": {"id": "1"}, "payment": 10, "apply": [{"doc": {"id": "1"}}]}',
        b'{"customer": {"id": "1"}, "payment": 10, "apply": {"items": [{"doc": {"id": "1"}, '
        b'"amount": 5}, {"doc": {"id": "1"}, "amount": 5}]}}',
        b'{"customer": {"id": "1"}, "payment": -5}',
        b'{"customer": {"id": "1"}}',
        b'{"entity": {"id": "1"}, "payment": 5}',  # payments name the customer `customer`
    ]
    for raw in cases:
        error(client.post(f"{R}/customerpayment", content=raw))
    assert count(paths, "select count(*) from previoustransactionlink") == 0
    assert count(paths, "select count(*) from \"transaction\" where type='CustPymt'") == 0


def test_transform_closes_invoice_with_credit_memo(
    env: tuple[httpx.Client, schema.SandboxPaths],
) -> None:
    client, paths = env
    created_id(
        client.post(
            f"{R}/customerpayment",
            content=b'{"customer": {"id": "1"}, "payment": 100, '
            b'"apply": {"items": [{"doc": {"id": "1"}, "amount": 100}]}}',
        )
    )
    etag = client.get(f"{R}/invoice/1").headers["etag"]
    r = client.post(
        f"{R}/invoice/1/!transform/creditmemo",
        json={"externalId": "in_000001_void", "memo": "voided in Stripe"},
        headers={"If-Match": etag},
    )
    cm = created_id(r)
    assert "/creditmemo/" in r.headers["location"]
    got = client.get(f"{R}/creditmemo/{cm}")
    memo = got.json()
    assert '"total":200.00' in got.text and memo["status"]["refName"] == "Fully Applied"
    assert memo["apply"]["items"][0]["doc"]["id"] == "1" and memo["memo"] == "voided in Stripe"
    inv = suiteql(client, "select foreignamountunpaid, status from transaction where id = 1")
    assert inv == [{"links": [], "foreignamountunpaid": "0.00", "status": "B"}]
    links = suiteql(client, f"select linktype, foreignamount from previoustransactionlink "
                    f"where nextdoc = {cm}")  # fmt: skip
    assert links == [{"links": [], "linktype": "Credit Memo", "foreignamount": "200.00"}]
    # Nothing left to credit; other transforms and targets are refused.
    assert error(client.post(f"{R}/invoice/1/!transform/creditmemo"))["o:errorCode"] == "USER_ERROR"
    error(client.post(f"{R}/invoice/999/!transform/creditmemo"), 404)
    error(client.post(f"{R}/invoice/2/!transform/customerpayment"))
    error(client.post(f"{R}/invoice/2/!transform/creditmemo", json={"total": 1}))
    error(client.post(f"{R}/invoice/2/!transform/creditmemo", headers={"If-Match": '"9"'}), 412)
    full = created_id(client.post(f"{R}/invoice/2/!transform/creditmemo"))
    lines = client.get(f"{R}/creditmemo/{full}").json()["item"]["items"]
    assert [ln["item"]["id"] for ln in lines] == ["1", "2", "3"]  # an untouched invoice's lines
    assert count(paths, "select count(*) from _write_log where path like '%!transform%'") == 2


# --------------------------------------------------------------------------------------
# Closed periods
# --------------------------------------------------------------------------------------


def test_closed_period_refuses_financial_changes(
    env: tuple[httpx.Client, schema.SandboxPaths],
) -> None:
    client, paths = env
    url = f"{R}/invoice/{CLOSED_INVOICE}"
    assert client.patch(url, json={"memo": "still editable", "otherRefNum": "x"}).status_code == 204
    refusals = [
        {"tranDate": "2025-03-01"},
        {"item": {"items": [{"item": {"id": "1"}, "amount": 1}]}},
        {"currency": {"id": "2"}},
        {"entity": {"id": "5"}},
        {"exchangeRate": 2},
        {"postingPeriod": {"id": "3"}},
    ]
    for body in refusals:
        detail = error(client.patch(url, json=body))
        assert detail["o:errorCode"] == "USER_ERROR" and "closed" in detail["detail"], body
    error(client.delete(url))
    error(client.post(f"{R}/invoice", json=invoice_body(tranDate="2025-01-20")))
    error(client.patch(f"{R}/invoice/1", json={"tranDate": "2025-01-31"}))  # into a closed one
    row = suiteql(
        client, f"select memo, foreigntotal, trandate from transaction where id = {CLOSED_INVOICE}"
    )
    assert row[0]["memo"] == "still editable" and row[0]["trandate"].startswith("1/")
    assert count(paths, "select count(*) from _write_log") == 1


# --------------------------------------------------------------------------------------
# Idempotency and the write log
# --------------------------------------------------------------------------------------


def test_idempotent_replay_applies_once(env: tuple[httpx.Client, schema.SandboxPaths]) -> None:
    client, paths = env
    headers = {"X-NetSuite-Idempotency-Key": "7c9e6679-7425-40de-944b-e07fc1f90ae7"}
    body = invoice_body(externalId="in_IDEM")
    first = client.post(f"{R}/invoice", json=body, headers=headers)
    again = client.post(f"{R}/invoice", json=body, headers=headers)
    assert first.status_code == again.status_code == 204
    assert first.headers["location"] == again.headers["location"]
    assert count(paths, "select count(*) from \"transaction\" where externalid='in_IDEM'") == 1
    assert count(paths, "select count(*) from _write_log") == 1
    assert count(paths, "select count(*) from _write_unapplied where outcome='replayed'") == 1
    # The same key on another request is refused, and nothing lands.
    other = client.post(f"{R}/invoice", json=invoice_body(externalId="in_OTHER"), headers=headers)
    error(other)
    assert count(paths, "select count(*) from _write_log") == 1
    # A PATCH replay does not bump the version twice.
    h2 = {"X-NetSuite-Idempotency-Key": "patch-1"}
    for _ in range(3):
        assert client.patch(f"{R}/customer/2", json={"email": "i@x"}, headers=h2).status_code == 204
    assert client.get(f"{R}/customer/2").headers["etag"] == '"2"'
    log = db(paths).execute("select method, record_type, status, idempotency_key from _write_log")
    assert [tuple(r) for r in log] == [
        ("POST", "invoice", 204, headers["X-NetSuite-Idempotency-Key"]),
        ("PATCH", "customer", 204, "patch-1"),
    ]


def test_concurrent_writes_are_serialised(env: tuple[httpx.Client, schema.SandboxPaths]) -> None:
    client, paths = env
    base = str(client.base_url)

    def create(n: int) -> httpx.Response:
        with httpx.Client(base_url=base, timeout=30) as c:
            body = {"companyName": f"Par {n}", "subsidiary": {"id": "1"}, "externalId": f"P{n}"}
            return c.post(f"{R}/customer", json=body)

    def same_key(_: int) -> httpx.Response:
        with httpx.Client(base_url=base, timeout=30) as c:
            body = {"companyName": "Once", "subsidiary": {"id": "1"}}
            return c.post(f"{R}/customer", json=body, headers={"X-NetSuite-Idempotency-Key": "k"})

    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = [created_id(r) for r in pool.map(create, range(16))]
        once = {created_id(r) for r in pool.map(same_key, range(8))}
    assert len(set(ids)) == 16 and len(once) == 1
    assert count(paths, "select count(*) from customer where companyname = 'Once'") == 1
    assert count(paths, "select count(*) from _write_log") == 17
