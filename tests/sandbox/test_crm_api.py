"""The Salesforce-shaped CRM API over a real SQLite file, through Starlette's test client."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient

from sandbox.crm import create_app
from sandbox.ids import sf_id
from sandbox.schema import CRM_FIELDS, SandboxPaths, connect, create_all

V = "v61.0"
BASE = f"/services/data/{V}"
T0 = datetime(2025, 1, 1, tzinfo=UTC)


def sf_datetime(value: datetime) -> str:
    """Stored Salesforce form of a UTC datetime."""
    return value.strftime("%Y-%m-%dT%H:%M:%S.000+0000")


@dataclass
class CrmData:
    """What `build_crm` inserted, for assertions."""

    paths: SandboxPaths
    accounts: list[dict[str, Any]]
    contacts: list[dict[str, Any]]
    opportunities: list[dict[str, Any]]

    def live(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [r for r in rows if not r["IsDeleted"]]


def insert(con: sqlite3.Connection, obj: str, rows: list[dict[str, Any]]) -> None:
    """Insert rows (missing fields as null) into an sObject table."""
    names = [name for name, _ in CRM_FIELDS[obj]]
    columns = ", ".join(f'"{n}"' for n in names)
    marks = ", ".join("?" for _ in names)
    sql = f'insert or replace into "{obj}" ({columns}) values ({marks})'
    con.executemany(sql, [[row.get(n) for n in names] for row in rows])


def audit(i: int, deleted: bool = False) -> dict[str, Any]:
    stamp = sf_datetime(T0 + timedelta(hours=i))
    return {
        "IsDeleted": 1 if deleted else 0,
        "CreatedDate": stamp,
        "LastModifiedDate": stamp,
        "SystemModstamp": stamp,
    }


def build_crm(root: Path, n_accounts: int = 30, deleted_every: int = 10) -> CrmData:
    """A small CRM: accounts (every `deleted_every`-th deleted), contacts, opportunities."""
    paths = SandboxPaths(root / "sandbox")
    create_all(paths)
    industries = ["Software", "Retail", None, "banking"]
    accounts = [
        {
            "Id": sf_id("001", i),
            "Name": f"Account {i:04d}",
            "Industry": industries[i % 4],
            "NumberOfEmployees": i * 10,
            "CurrencyIsoCode": "JPY" if i % 5 == 0 else "USD",
            **audit(i, deleted=deleted_every > 0 and i % deleted_every == 0),
        }
        for i in range(1, n_accounts + 1)
    ]
    contacts = [
        {
            "Id": sf_id("003", i),
            "AccountId": accounts[i - 1]["Id"] if i <= 3 else None,
            "FirstName": "Ada",
            "LastName": f"Lovelace{i}",
            "Name": f"Ada Lovelace{i}",
            "Email": f"ada{i}@example.com" if i != 2 else None,
            **audit(i),
        }
        for i in range(1, 5)
    ]
    contract = {
        "Id": sf_id("800", 1),
        "AccountId": accounts[0]["Id"],
        "ContractNumber": "00000001",
        "Status": "Activated",
        "StartDate": "2025-01-01",
        "EndDate": "2025-12-31",
        "ContractTerm": 12,
        "CurrencyIsoCode": "USD",
        **audit(1),
    }
    opportunities = [
        {
            "Id": sf_id("006", 1),
            "AccountId": accounts[0]["Id"],
            "ContractId": contract["Id"],
            "Name": "Big deal",
            "StageName": "Closed Won",
            "Amount": "1234.50",
            "Probability": 100.0,
            "CloseDate": "2025-01-15",
            "IsClosed": 1,
            "IsWon": 1,
            "CurrencyIsoCode": "USD",
            **audit(1),
        },
        {
            "Id": sf_id("006", 2),
            "AccountId": accounts[4]["Id"],
            "Name": "Yen deal",
            "StageName": "Closed Won",
            "Amount": "335000",
            "Probability": 100.0,
            "CloseDate": "2025-02-01",
            "IsClosed": 1,
            "IsWon": 1,
            "CurrencyIsoCode": "JPY",
            **audit(2),
        },
        {
            "Id": sf_id("006", 3),
            "AccountId": None,
            "Name": "Orphan",
            "StageName": "Prospecting",
            "Amount": None,
            "Probability": 10.5,
            "CloseDate": "2025-03-01",
            "IsClosed": 0,
            "IsWon": 0,
            "CurrencyIsoCode": "USD",
            **audit(3),
        },
    ]
    con = connect(paths.crm)
    try:
        insert(con, "Account", accounts)
        insert(con, "Contact", contacts)
        insert(con, "Contract", [contract])
        insert(con, "Opportunity", opportunities)
        con.commit()
    finally:
        con.close()
    return CrmData(paths, accounts, contacts, opportunities)


@pytest.fixture
def crm(tmp_path: Path) -> CrmData:
    return build_crm(tmp_path)


@pytest.fixture
def client(crm: CrmData) -> Iterator[TestClient]:
    with TestClient(create_app(crm.paths), raise_server_exceptions=False) as c:
        yield c


def query(client: TestClient, soql: str, *, all_rows: bool = False, **headers: str) -> Any:
    path = "queryAll" if all_rows else "query"
    return client.get(f"{BASE}/{path}", params={"q": soql}, headers=headers)


def ok(response: Any) -> Any:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    return response.json()


def error(response: Any, status: int = 400) -> tuple[str, str]:
    assert response.status_code == status, response.text
    body = response.json()
    assert isinstance(body, list) and len(body) == 1
    assert set(body[0]) == {"message", "errorCode"}
    return body[0]["errorCode"], body[0]["message"]


def read_all(client: TestClient, soql: str, *, all_rows: bool = False, **headers: str) -> Any:
    """Follow nextRecordsUrl to the end; return (pages, records)."""
    page = ok(query(client, soql, all_rows=all_rows, **headers))
    pages = [page]
    while not page["done"]:
        page = ok(client.get(page["nextRecordsUrl"]))
        pages.append(page)
    assert "nextRecordsUrl" not in pages[-1]
    return pages, [r for p in pages for r in p["records"]]


# ---- discovery and describe ---------------------------------------------------------------


def test_versions_and_resources(client: TestClient) -> None:
    versions = ok(client.get("/services/data/"))
    assert {"label": "Summer '24", "url": "/services/data/v61.0", "version": "61.0"} in versions
    assert ok(client.get("/services/data")) == versions
    resources = ok(client.get(f"{BASE}/"))
    assert resources["query"] == f"{BASE}/query"
    assert resources["sobjects"] == f"{BASE}/sobjects"
    # any vNN.N is accepted and echoed back
    assert ok(client.get("/services/data/v58.0/"))["queryAll"] == "/services/data/v58.0/queryAll"


def test_describe_global_and_object(client: TestClient) -> None:
    glob = ok(client.get(f"{BASE}/sobjects/"))
    names = {s["name"]: s for s in glob["sobjects"]}
    assert set(names) == set(CRM_FIELDS)
    assert names["Account"]["keyPrefix"] == "001"
    assert names["Account"]["urls"]["describe"] == f"{BASE}/sobjects/Account/describe"

    desc = ok(client.get(f"{BASE}/sobjects/Contact/describe/"))
    assert desc["name"] == "Contact"
    fields = {f["name"]: f for f in desc["fields"]}
    assert [f["name"] for f in desc["fields"]] == [n for n, _ in CRM_FIELDS["Contact"]]
    assert fields["AccountId"]["type"] == "reference"
    assert fields["AccountId"]["referenceTo"] == ["Account"]
    assert fields["AccountId"]["relationshipName"] == "Account"
    assert fields["AccountId"]["nillable"] is True
    assert fields["Id"]["type"] == "id" and fields["Id"]["nillable"] is False
    assert fields["CreatedDate"]["type"] == "datetime"
    assert fields["Email"]["relationshipName"] is None

    acc = ok(client.get(f"{BASE}/sobjects/account/describe"))  # object names are case-insensitive
    assert acc["name"] == "Account"
    kids = {(c["childSObject"], c["field"]) for c in acc["childRelationships"]}
    assert ("Contact", "AccountId") in kids and ("Opportunity", "AccountId") in kids
    opp = {f["name"]: f for f in ok(client.get(f"{BASE}/sobjects/Opportunity/describe"))["fields"]}
    assert opp["Amount"]["type"] == "currency"
    assert opp["IsWon"]["type"] == "boolean" and opp["IsWon"]["nillable"] is False


def test_unknown_object_and_routes_are_404(client: TestClient) -> None:
    assert error(client.get(f"{BASE}/sobjects/Foo/describe"), 404)[0] == "NOT_FOUND"
    assert error(client.get(f"{BASE}/nope"), 404)[0] == "NOT_FOUND"
    assert error(client.get("/services/data/latest/query?q=x"), 404)[0] == "NOT_FOUND"
    assert error(client.get("/"), 404)[0] == "NOT_FOUND"
    code, message = error(client.post(f"{BASE}/query", params={"q": "SELECT Id FROM Account"}), 405)
    assert code == "METHOD_NOT_ALLOWED" and "POST" in message


# ---- sObject rows -------------------------------------------------------------------------


def test_get_record_by_15_and_18_char_id(client: TestClient, crm: CrmData) -> None:
    acc = crm.accounts[0]
    body = ok(client.get(f"{BASE}/sobjects/Account/{acc['Id']}"))
    assert body["attributes"] == {"type": "Account", "url": f"{BASE}/sobjects/Account/{acc['Id']}"}
    assert list(body)[:3] == ["attributes", "Id", "Name"]
    assert body["Name"] == acc["Name"]
    assert body["IsDeleted"] is False
    assert body["NumberOfEmployees"] == 10
    assert body["CreatedDate"] == acc["CreatedDate"]
    assert body["Tax_Id__c"] is None
    assert ok(client.get(f"{BASE}/sobjects/Account/{acc['Id'][:15]}"))["Id"] == acc["Id"]
    # an 18-char id is case-insensitive thanks to its suffix
    assert ok(client.get(f"{BASE}/sobjects/Account/{acc['Id'].lower()}"))["Id"] == acc["Id"]

    some = ok(
        client.get(f"{BASE}/sobjects/Account/{acc['Id']}", params={"fields": "name,Industry"})
    )
    assert list(some) == ["attributes", "Name", "Industry"]


def test_get_record_errors(client: TestClient, crm: CrmData) -> None:
    missing = sf_id("001", 99999)
    assert error(client.get(f"{BASE}/sobjects/Account/{missing}"), 404)[0] == "NOT_FOUND"
    code, message = error(client.get(f"{BASE}/sobjects/Account/not-an-id"), 404)
    assert code == "NOT_FOUND" and "not-an-id" in message
    deleted = crm.accounts[9]
    assert deleted["IsDeleted"] == 1
    code, _ = error(client.get(f"{BASE}/sobjects/Account/{deleted['Id']}"), 404)
    assert code == "ENTITY_IS_DELETED"
    code, message = error(
        client.get(f"{BASE}/sobjects/Account/{crm.accounts[0]['Id']}", params={"fields": "Nope"})
    )
    assert code == "INVALID_FIELD" and "Nope" in message
    assert error(client.get(f"{BASE}/sobjects/Foo/{missing}"), 404)[0] == "NOT_FOUND"


# ---- query shape --------------------------------------------------------------------------


def test_query_record_shape_and_types(client: TestClient, crm: CrmData) -> None:
    resp = query(
        client,
        "select name, Id, amount, IsWon, Probability, CloseDate, CreatedDate, Account.Name "
        "from opportunity order by Name",
    )
    body = ok(resp)
    assert list(body) == ["totalSize", "done", "records"]
    assert body["totalSize"] == 3 and body["done"] is True
    big, orphan, yen = body["records"]
    assert list(big) == [
        "attributes", "Name", "Id", "Amount", "IsWon", "Probability", "CloseDate",
        "CreatedDate", "Account",
    ]  # fmt: skip
    assert big["attributes"] == {
        "type": "Opportunity",
        "url": f"{BASE}/sobjects/Opportunity/{crm.opportunities[0]['Id']}",
    }
    assert big["IsWon"] is True and orphan["IsWon"] is False
    assert big["Probability"] == 100.0 and orphan["Probability"] == 10.5
    assert big["CloseDate"] == "2025-01-15"
    assert big["CreatedDate"] == "2025-01-01T01:00:00.000+0000"
    assert big["Account"] == {
        "attributes": {
            "type": "Account",
            "url": f"{BASE}/sobjects/Account/{crm.accounts[0]['Id']}",
        },
        "Name": "Account 0001",
    }
    assert orphan["Account"] is None and orphan["Amount"] is None
    # currency keeps its exact decimals as a JSON number; JPY has none
    assert b'"Amount":1234.50' in resp.content
    assert b'"Amount":335000,' in resp.content
    assert yen["Amount"] == 335000


def test_parent_fields_nest_in_first_seen_order(client: TestClient, crm: CrmData) -> None:
    body = ok(
        query(
            client,
            "SELECT Id, Account.Name, Name, Account.Industry, Contract.Account.Name, "
            "Contract.Status FROM Opportunity WHERE Name = 'big deal'",
        )
    )
    (rec,) = body["records"]
    assert list(rec) == ["attributes", "Id", "Account", "Name", "Contract"]
    assert list(rec["Account"]) == ["attributes", "Name", "Industry"]
    assert rec["Contract"]["attributes"]["type"] == "Contract"
    assert list(rec["Contract"]) == ["attributes", "Account", "Status"]
    assert rec["Contract"]["Account"]["Name"] == "Account 0001"
    yen = ok(query(client, "SELECT Contract.Account.Name FROM Opportunity WHERE Name='Yen deal'"))
    assert yen["records"][0]["Contract"] is None


def test_object_name_and_alias_prefixes(client: TestClient) -> None:
    a = ok(query(client, "SELECT Account.Name FROM Account WHERE Name = 'Account 0001'"))
    assert a["records"][0]["Name"] == "Account 0001"
    b = ok(query(client, "SELECT c.LastName, c.Account.Name FROM Contact c WHERE c.Email = null"))
    assert b["records"][0]["LastName"] == "Lovelace2"
    assert b["records"][0]["Account"]["Name"] == "Account 0002"


def test_count(client: TestClient, crm: CrmData) -> None:
    body = ok(query(client, "SELECT COUNT() FROM Account"))
    assert body == {"totalSize": len(crm.live(crm.accounts)), "done": True, "records": []}
    assert ok(query(client, "select count() from Account", all_rows=True))["totalSize"] == 30
    assert ok(query(client, "SELECT COUNT() FROM Account LIMIT 5"))["totalSize"] == 5


# ---- paging -------------------------------------------------------------------------------


@pytest.fixture
def big_client(tmp_path: Path) -> Iterator[tuple[TestClient, CrmData]]:
    data = build_crm(tmp_path, n_accounts=1050, deleted_every=0)
    with TestClient(create_app(data.paths), raise_server_exceptions=False) as c:
        yield c, data


def test_paging_follows_next_records_url(big_client: tuple[TestClient, CrmData]) -> None:
    client, data = big_client
    pages, records = read_all(
        client, "SELECT Id, Name FROM Account", **{"Sforce-Query-Options": "batchSize=400"}
    )
    assert [len(p["records"]) for p in pages] == [400, 400, 250]
    assert all(p["totalSize"] == 1050 for p in pages)
    assert [p["done"] for p in pages] == [False, False, True]
    assert pages[0]["nextRecordsUrl"].startswith(f"{BASE}/query/01g")
    assert pages[0]["nextRecordsUrl"].endswith("-400")
    ids = [r["Id"] for r in records]
    assert ids == sorted(a["Id"] for a in data.accounts)  # no ORDER BY: stable order by Id


def test_default_batch_is_2000_and_size_is_clamped(tmp_path: Path) -> None:
    data = build_crm(tmp_path, n_accounts=2100, deleted_every=0)
    with TestClient(create_app(data.paths)) as client:
        pages, _ = read_all(client, "SELECT Id FROM Account")
        assert [len(p["records"]) for p in pages] == [2000, 100]
        pages, _ = read_all(
            client, "SELECT Id FROM Account", **{"Sforce-Query-Options": "batchSize=5"}
        )
        assert len(pages[0]["records"]) == 200  # the minimum
        pages, _ = read_all(
            client, "SELECT Id FROM Account", **{"Sforce-Query-Options": "batchSize=9000"}
        )
        assert len(pages[0]["records"]) == 2000  # the maximum
        code, _ = error(
            query(client, "SELECT Id FROM Account", **{"Sforce-Query-Options": "batchSize=x"})
        )
        assert code == "INVALID_BATCH_SIZE"


def test_order_by_limit_offset_pages(big_client: tuple[TestClient, CrmData]) -> None:
    client, data = big_client
    pages, records = read_all(
        client,
        "SELECT Name FROM Account ORDER BY NumberOfEmployees DESC LIMIT 700 OFFSET 10",
        **{"Sforce-Query-Options": "batchSize=200"},
    )
    assert pages[0]["totalSize"] == 700 and len(pages) == 4
    expected = [a["Name"] for a in sorted(data.accounts, key=lambda a: -a["NumberOfEmployees"])]
    assert [r["Name"] for r in records] == expected[10:710]


def test_locator_is_a_stable_snapshot(big_client: tuple[TestClient, CrmData]) -> None:
    client, data = big_client
    first = ok(
        query(client, "SELECT Id, Name FROM Account", **{"Sforce-Query-Options": "batchSize=500"})
    )
    # the generator writes while a connector pages: new rows must not shift later pages
    con = connect(data.paths.crm)
    insert(con, "Account", [{"Id": sf_id("001", 0), "Name": "Newcomer", **audit(0)}])
    con.execute(
        'update "Account" set "Name" = ? where "Id" = ?', ("Renamed", data.accounts[600]["Id"])
    )
    con.commit()
    con.close()
    second = ok(client.get(first["nextRecordsUrl"]))
    again = ok(client.get(first["nextRecordsUrl"]))  # a locator may be read more than once
    assert second["records"] == again["records"]
    third = ok(client.get(second["nextRecordsUrl"]))
    ids = [r["Id"] for p in (first, second, third) for r in p["records"]]
    assert ids == sorted(a["Id"] for a in data.accounts)
    assert second["records"][100]["Name"] == "Renamed"  # values are read at page time
    assert third["done"] is True and third["totalSize"] == 1050


def test_bad_locators(big_client: tuple[TestClient, CrmData]) -> None:
    client, _ = big_client
    for locator in ("01gXXXXXXXXXXXXXXX-200", "garbage", "01g-1"):
        code, _ = error(client.get(f"{BASE}/query/{locator}"))
        assert code == "INVALID_QUERY_LOCATOR"
    first = ok(query(client, "SELECT Id FROM Account", **{"Sforce-Query-Options": "batchSize=200"}))
    locator = first["nextRecordsUrl"].rsplit("/", 1)[1].split("-")[0]
    assert error(client.get(f"{BASE}/query/{locator}-999999"))[0] == "INVALID_QUERY_LOCATOR"
    # the queryAll form of the URL resolves the same cursor
    assert ok(client.get(f"{BASE}/queryAll/{locator}-200"))["records"]


# ---- query vs queryAll --------------------------------------------------------------------


def test_query_omits_deleted_and_query_all_includes_them(client: TestClient, crm: CrmData) -> None:
    live = ok(query(client, "SELECT Id, IsDeleted FROM Account"))
    every = ok(query(client, "SELECT Id, IsDeleted FROM Account", all_rows=True))
    assert live["totalSize"] == 27 and every["totalSize"] == 30
    assert all(r["IsDeleted"] is False for r in live["records"])
    deleted = [r["Id"] for r in every["records"] if r["IsDeleted"] is True]
    assert deleted == [a["Id"] for a in crm.accounts if a["IsDeleted"]]
    assert ok(query(client, "SELECT Id FROM Account WHERE IsDeleted = true"))["totalSize"] == 0
    only = ok(query(client, "SELECT Id FROM Account WHERE IsDeleted = true", all_rows=True))
    assert [r["Id"] for r in only["records"]] == deleted


# ---- WHERE semantics ----------------------------------------------------------------------


def names(body: Any) -> list[str]:
    return [r["Name"] for r in body["records"]]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        # 2025-01-01T05:00Z is Account 0005 (hours after T0)
        ("CreatedDate = 2025-01-01T05:00:00Z", [5]),
        ("CreatedDate = 2025-01-01T05:00:00.000+0000", [5]),
        ("CreatedDate = 2025-01-01T07:00:00+02:00", [5]),  # the same instant
        ("CreatedDate = 2025-01-01T00:00:00-05:00", [5]),
        (
            "CreatedDate >= 2025-01-01T23:00:00Z AND CreatedDate < 2025-01-02T02:00:00Z",
            [23, 24, 25],
        ),
        ("SystemModstamp > 2025-01-02T03:30:00+0000", [28, 29]),
    ],
)
def test_datetime_filters_compare_instants(
    client: TestClient, where: str, expected: list[int]
) -> None:
    body = ok(query(client, f"SELECT Name FROM Account WHERE {where} ORDER BY Name"))
    assert names(body) == [f"Account {i:04d}" for i in expected]


def test_quoted_datetime_is_invalid_field(client: TestClient) -> None:
    code, message = error(
        query(client, "SELECT Id FROM Account WHERE CreatedDate > '2025-01-01T00:00:00Z'")
    )
    assert code == "INVALID_FIELD"
    assert message.endswith(
        "value of filter criterion for field 'CreatedDate' must be of type dateTime and should "
        "not be enclosed in quotes"
    )
    assert "ERROR at Row:1:Column:44" in message


def test_date_filters(client: TestClient) -> None:
    body = ok(
        query(client, "SELECT Name FROM Opportunity WHERE CloseDate > 2025-01-31 ORDER BY Name")
    )
    assert names(body) == ["Orphan", "Yen deal"]
    code, message = error(
        query(client, "SELECT Name FROM Opportunity WHERE CloseDate > 2025-01-31T00:00:00Z")
    )
    assert code == "INVALID_FIELD" and "must be of type date" in message


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("Industry = 'SOFTWARE' AND Employees < 100", [4, 8]),
        ("Industry != 'Software' AND Employees <= 40", [1, 2, 3]),
        ("Industry = null AND Employees < 100", [2, 6]),
        ("Industry IN ('Retail', 'Banking') AND Name < 'Account 0006'", [1, 3, 5]),
        ("Industry NOT IN ('Retail') AND Employees < 50", [2, 3, 4]),
        ("NOT Industry = 'Retail' AND Employees < 50", [2, 3, 4]),
        ("Name LIKE '%002_'", [21, 22, 23, 24, 25, 26, 27, 28, 29]),
        ("(Name = 'Account 0001' OR Name = 'account 0002') AND Employees > 10", [2]),
        ("NOT (Industry = 'Retail' OR Industry = null) AND Employees < 90", [3, 4, 7, 8]),
        ("Industry IN (null, 'Retail') AND Employees < 70", [1, 2, 5, 6]),
        ("Employees >= 285", [29]),
        ("Id = '" + sf_id("001", 7)[:15] + "'", [7]),
        ("Id IN ('" + sf_id("001", 7).lower() + "', '" + sf_id("001", 8) + "')", [7, 8]),
    ],
)  # fmt: skip
def test_where_semantics(client: TestClient, where: str, expected: list[int]) -> None:
    where = where.replace("Employees", "NumberOfEmployees")
    body = ok(query(client, f"SELECT Name FROM Account WHERE {where} ORDER BY Name"))
    assert names(body) == [f"Account {i:04d}" for i in expected]


def test_currency_and_parent_filters(client: TestClient) -> None:
    body = ok(query(client, "SELECT Name FROM Opportunity WHERE Amount > 1234.5 ORDER BY Name"))
    assert names(body) == ["Yen deal"]
    body = ok(query(client, "SELECT Name FROM Opportunity WHERE Amount = 1234.50"))
    assert names(body) == ["Big deal"]
    body = ok(
        query(
            client, "SELECT Name FROM Opportunity WHERE Account.Name LIKE 'account%' ORDER BY Name"
        )
    )
    assert names(body) == ["Big deal", "Yen deal"]
    body = ok(query(client, "SELECT Name FROM Opportunity WHERE Account.Name = null"))
    assert names(body) == ["Orphan"]
    body = ok(
        query(client, "SELECT LastName FROM Contact WHERE Name LIKE 'ada\\_%' ORDER BY LastName")
    )
    assert body["totalSize"] == 0  # an escaped underscore is a literal underscore


def test_order_by_nulls_and_case(client: TestClient) -> None:
    first = ok(
        query(
            client,
            "SELECT Industry FROM Account WHERE NumberOfEmployees < 90 ORDER BY Industry, Name",
        )
    )
    assert [r["Industry"] for r in first["records"]] == [
        None, None, "banking", "banking", "Retail", "Retail", "Software", "Software"
    ]  # fmt: skip
    last = ok(
        query(
            client,
            "SELECT Industry FROM Account WHERE NumberOfEmployees < 90 "
            "ORDER BY Industry DESC NULLS LAST, Name",
        )
    )
    assert [r["Industry"] for r in last["records"]] == [
        "Software", "Software", "Retail", "Retail", "banking", "banking", None, None
    ]  # fmt: skip
    by_parent = ok(
        query(client, "SELECT Name FROM Opportunity ORDER BY Account.Name DESC NULLS FIRST")
    )
    assert names(by_parent) == ["Orphan", "Yen deal", "Big deal"]
    by_amount = ok(query(client, "SELECT Name FROM Opportunity ORDER BY Amount DESC NULLS LAST"))
    assert names(by_amount) == ["Yen deal", "Big deal", "Orphan"]  # numeric, not text order


# ---- errors -------------------------------------------------------------------------------


W = "SELECT Id FROM Account WHERE "
MQ = "MALFORMED_QUERY"
IF = "INVALID_FIELD"


@pytest.mark.parametrize(
    ("soql", "code", "fragment"),
    [
        ("SELECT * FROM Account", MQ, "unexpected token: '*'"),
        (W + "Name IS NULL", MQ, "unexpected token: 'IS'"),
        ("SELECT Id FROM Foo", "INVALID_TYPE", "sObject type 'Foo' is not supported."),
        ("SELECT Id, Foo FROM Account", IF, "No such column 'Foo' on entity 'Account'"),
        (W + "Bar = 1", IF, "No such column 'Bar'"),
        ("SELECT Id FROM Account ORDER BY Baz", IF, "No such column 'Baz'"),
        ("SELECT Owner.Name FROM Account", IF, "Didn't understand relationship 'Owner'"),
        ("SELECT AccountId.Name FROM Contact", IF, "relationship 'AccountId'"),
        ("SELECT Account.Nope FROM Contact", IF, "No such column 'Nope' on entity 'Account'"),
        ("SELECT Id FROM Account OFFSET 2001", "NUMBER_OUTSIDE_VALID_RANGE", "Maximum SOQL offset"),
        ("SELECT Id FROM Account LIMIT 99999999999999999999", MQ, "For input string"),
        ("SELECT Id FROM Account LIMIT -1", MQ, "unexpected token"),
        (W + "Name = 'a' AND Name = 'b' OR Name = 'c'", MQ, "'OR'"),
        (W + "Name = 'unterminated", MQ, "unterminated"),
        (W + "Name = \"x\"", MQ, "unexpected token"),
        (W + "Name = 5", IF, "type string and should be enclosed"),
        (W + "Employees = '5'", IF, "must be of type integer"),
        (W + "IsDeleted = 'true'", IF, "must be of type boolean"),
        (W + "IsDeleted > true", IF, "invalid operator"),
        (W + "Id = 'abc'", "INVALID_QUERY_FILTER_OPERATOR", "ID field: abc"),
        (W + "CreatedDate = 2025-02-30T00:00:00Z", MQ, "2025-02-30"),
        (W + "CreatedDate < null", MQ, "null"),
        (W + "Employees LIKE '1%'", IF, "LIKE"),
        ("SELECT Id, id FROM Account", MQ, "duplicate field selected"),
        ("SELECT Id FROM Account;", MQ, "unexpected token: ';'"),
        ("SELECT Id FROM Account GROUP BY Name", MQ, "unexpected token: 'GROUP'"),
        ("SELECT COUNT(Id) FROM Account", MQ, "COUNT()"),
        ("SELECT Id FROM", MQ, "unexpected token: 'EOF'"),
        ("SELECT FROM Account", MQ, "unexpected token: 'FROM'"),
        ("DELETE FROM Account", MQ, "unexpected token: 'DELETE'"),
        (W + "Id IN (SELECT AccountId FROM Contact)", MQ, "not supported"),
        (W + "Name = 'a\\q'", MQ, "Invalid string literal"),
    ],
)  # fmt: skip
def test_query_errors(client: TestClient, soql: str, code: str, fragment: str) -> None:
    soql = soql.replace("Employees", "NumberOfEmployees")
    for all_rows in (False, True):
        got_code, message = error(query(client, soql, all_rows=all_rows))
        assert (got_code, fragment in message) == (code, True), message


def test_missing_query_string(client: TestClient) -> None:
    assert error(client.get(f"{BASE}/query"))[0] == "MALFORMED_QUERY"
    assert error(client.get(f"{BASE}/query", params={"q": "  "}))[0] == "MALFORMED_QUERY"


def test_error_message_points_at_the_token(client: TestClient) -> None:
    _, message = error(query(client, "SELECT Id, Foo FROM Account"))
    assert message.startswith(
        "\nSELECT Id, Foo FROM Account\n           ^\nERROR at Row:1:Column:12\n"
        "No such column 'Foo'"
    )


def test_missing_database_is_503_not_500(tmp_path: Path) -> None:
    with TestClient(create_app(SandboxPaths(tmp_path / "none"))) as client:
        code, _ = error(query(client, "SELECT Id FROM Account"), 503)
        assert code == "SERVER_UNAVAILABLE"


def test_query_json_is_orjson_parseable_bytes(client: TestClient) -> None:
    resp = query(client, "SELECT Id, Name FROM Contact")
    assert orjson.loads(resp.content)["totalSize"] == 4


# ---- relative date literals use the simulated clock ---------------------------------------


def set_clock(crm: CrmData, clock: Any) -> None:
    crm.paths.manifest.write_bytes(orjson.dumps({"seed": 1, "scale": "test", "clock": clock}))


def test_date_literals_follow_the_manifest_clock(client: TestClient, crm: CrmData) -> None:
    code, _ = error(query(client, "SELECT Id FROM Account WHERE CreatedDate = TODAY"), 503)
    assert code == "SERVER_UNAVAILABLE"  # no manifest: no clock, and never the wall clock

    set_clock(crm, "2025-01-02T12:00:00Z")
    live = [i for i in range(1, 31) if i % 10]

    def numbers(where: str, obj: str = "Account") -> list[int]:
        body = ok(query(client, f"SELECT Name FROM {obj} WHERE {where} ORDER BY Name"))
        return [int(n.split()[-1]) for n in names(body)]

    assert numbers("CreatedDate = TODAY") == [i for i in live if i >= 24]
    assert numbers("CreatedDate = YESTERDAY") == [i for i in live if i < 24]
    assert numbers("CreatedDate < TODAY") == [i for i in live if i < 24]
    assert numbers("CreatedDate = LAST_N_DAYS:1") == live
    assert numbers("CreatedDate > YESTERDAY AND CreatedDate != N_DAYS_AGO:0") == []
    opp = ok(query(client, "SELECT Name FROM Opportunity WHERE CloseDate = THIS_MONTH"))
    assert names(opp) == ["Big deal"]
    opp = ok(query(client, "SELECT Name FROM Opportunity WHERE CloseDate = NEXT_N_MONTHS:2"))
    assert sorted(names(opp)) == ["Orphan", "Yen deal"]

    set_clock(crm, int(datetime(2025, 3, 10, tzinfo=UTC).timestamp()))  # epoch form, re-read
    opp = ok(query(client, "SELECT Name FROM Opportunity WHERE CloseDate = LAST_N_MONTHS:2"))
    assert sorted(names(opp)) == ["Big deal", "Yen deal"]

    for bad, code in (
        ("CreatedDate = LAST_N_DAYS", "MALFORMED_QUERY"),
        ("CreatedDate = LAST_N_DAYS:x", "MALFORMED_QUERY"),
        ("Name = TODAY", "INVALID_FIELD"),
        ("CreatedDate IN (TODAY)", "MALFORMED_QUERY"),
        ("CreatedDate = SOMEDAY", "MALFORMED_QUERY"),
    ):
        assert error(query(client, f"SELECT Id FROM Account WHERE {bad}"))[0] == code, bad


def test_short_batches_still_page_to_the_end(tmp_path: Path) -> None:
    data = build_crm(tmp_path, n_accounts=1050, deleted_every=0)
    with TestClient(create_app(data.paths, short_batches=True)) as client:
        soql = "SELECT Id FROM Account"
        pages, records = read_all(client, soql, **{"Sforce-Query-Options": "batchSize=400"})
        sizes = [len(p["records"]) for p in pages]
        assert all(200 < s <= 400 for s in sizes[:-1]) and any(s < 400 for s in sizes)
        assert [r["Id"] for r in records] == [a["Id"] for a in data.accounts]
        # deterministic: the same query pages the same way
        again, _ = read_all(client, soql, **{"Sforce-Query-Options": "batchSize=400"})
        assert [len(p["records"]) for p in again] == sizes


def test_database_without_tables_is_503(tmp_path: Path) -> None:
    paths = SandboxPaths(tmp_path / "sandbox")
    paths.root.mkdir(parents=True)
    connect(paths.crm).close()  # the file exists, the generator has not created tables yet
    with TestClient(create_app(paths)) as client:
        assert error(query(client, "SELECT Id FROM Account"), 503)[0] == "SERVER_UNAVAILABLE"
        assert error(client.get(f"{BASE}/sobjects/Account/{sf_id('001', 1)}"), 503)[0] == (
            "SERVER_UNAVAILABLE"
        )
