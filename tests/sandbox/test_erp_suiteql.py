"""SuiteQL endpoint of the ERP sandbox over real HTTP: paging, rendering, joins, dates, errors."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from sandbox import schema
from sandbox.erp import create_app
from sandbox.testing import serve
from tests.sandbox.test_erp_fixtures import build

QUERY = "/services/rest/query/v1/suiteql"
PREFER = {"Prefer": "transient"}
N_LINES = 1200  # 400 invoices: 400 main lines + sum(k % 3 + 1) item lines


@pytest.fixture(scope="module")
def erp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[httpx.Client, Path]]:
    """The fixture company served over real HTTP on 127.0.0.1 (read-only tests share it)."""
    paths = build(tmp_path_factory.mktemp("erp"))
    with serve(create_app(paths)) as base, httpx.Client(base_url=base, timeout=30) as client:
        yield client, paths.erp


def q(client: httpx.Client, text: str, **params: Any) -> httpx.Response:
    return client.post(QUERY, params=params, json={"q": text}, headers=PREFER)


def ok(client: httpx.Client, text: str, **params: Any) -> dict[str, Any]:
    r = q(client, text, **params)
    assert r.status_code == 200, r.text
    return r.json()


def read_all(client: httpx.Client, text: str, limit: int | None = None) -> list[dict[str, Any]]:
    """Follow `links[rel=next]` until `hasMore` is false, as a connector does."""
    url = QUERY if limit is None else f"{QUERY}?limit={limit}"
    items: list[dict[str, Any]] = []
    for _ in range(1000):
        r = client.post(url, json={"q": text}, headers=PREFER)
        assert r.status_code == 200, r.text
        page = r.json()
        assert page["count"] == len(page["items"])
        items += page["items"]
        if not page["hasMore"]:
            assert not [ln for ln in page["links"] if ln["rel"] == "next"]
            return items
        url = next(ln["href"] for ln in page["links"] if ln["rel"] == "next")
    raise AssertionError("paging never ended")


# --------------------------------------------------------------------------------------
# Paging
# --------------------------------------------------------------------------------------


def test_paging_follows_next_links_over_every_row(erp: tuple[httpx.Client, Path]) -> None:
    client, _ = erp
    items = read_all(client, "SELECT uniquekey, transaction FROM transactionline", limit=100)
    keys = [int(i["uniquekey"]) for i in items]
    assert keys == list(range(1, N_LINES + 1))  # every row once, in key order


def test_default_page_is_1000_and_second_page_finishes(erp: tuple[httpx.Client, Path]) -> None:
    client, _ = erp
    first = ok(client, "select uniquekey from transactionline")
    assert (first["count"], first["hasMore"], first["offset"]) == (1000, True, 0)
    assert first["totalResults"] == N_LINES
    rels = [ln["rel"] for ln in first["links"]]
    assert rels == ["first", "next", "last", "self"]
    nxt = next(ln["href"] for ln in first["links"] if ln["rel"] == "next")
    assert nxt.startswith("http://127.0.0.1:") and nxt.endswith(f"{QUERY}?limit=1000&offset=1000")
    second = client.post(nxt, json={"q": "select uniquekey from transactionline"}, headers=PREFER)
    page = second.json()
    assert (page["count"], page["hasMore"], page["offset"]) == (200, False, 1000)
    assert [ln["rel"] for ln in page["links"]] == ["previous", "first", "last", "self"]
    assert len(read_all(client, "select uniquekey from transactionline")) == N_LINES


def test_links_first_last_previous(erp: tuple[httpx.Client, Path]) -> None:
    client, _ = erp
    page = ok(client, "select id from transaction", limit=150, offset=150)
    links = {ln["rel"]: ln["href"] for ln in page["links"]}
    assert links["previous"].endswith("limit=150&offset=0")
    assert links["first"].endswith("limit=150&offset=0")
    assert links["next"].endswith("limit=150&offset=300")
    assert links["last"].endswith("limit=150&offset=300")
    assert links["self"].endswith("limit=150&offset=150")
    assert [i["id"] for i in page["items"]][:2] == ["151", "152"]
    empty = ok(client, "select id from transaction where id < 0")
    assert (empty["count"], empty["hasMore"], empty["totalResults"], empty["items"]) == (
        0,
        False,
        0,
        [],
    )


def test_offset_past_100000_rows_is_refused(erp: tuple[httpx.Client, Path]) -> None:
    client, _ = erp
    big = "select a.uniquekey from transactionline a join transactionline b on 1 = 1"
    page = ok(client, big, limit=1000, offset=99000)
    assert page["hasMore"] is True and page["totalResults"] == N_LINES * N_LINES
    r = q(client, big, limit=1000, offset=100000)
    assert r.status_code == 400
    assert r.json()["o:errorDetails"][0]["o:errorCode"] == "INVALID_PARAMETER"


# --------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------


def test_values_are_strings_in_netsuite_format(erp: tuple[httpx.Client, Path]) -> None:
    client, _ = erp
    items = ok(
        client,
        "SELECT ID, TranID, trandate, foreigntotal, exchangerate, voided, memo, lastmodifieddate "
        "FROM transaction WHERE id IN (1, 5, 8) ORDER BY id",
    )["items"]
    assert items[0] == {
        "links": [],
        "id": "1",
        "tranid": "INV0000001",
        "trandate": "2/2/2025",  # M/D/YYYY, no leading zeros
        "foreigntotal": "300.00",
        "exchangerate": "1",
        "voided": "F",
        "memo": "memo 1",
        "lastmodifieddate": "2/2/2025",  # a datetime shows only its date
    }
    assert "memo" not in items[1]  # NULL columns are omitted
    assert items[2]["foreigntotal"] == "60000"  # JPY: no minor unit
    assert all(isinstance(v, str) for i in items for k, v in i.items() if k != "links")


def test_unnamed_expressions_and_aliases(erp: tuple[httpx.Client, Path]) -> None:
    client, _ = erp
    item = ok(
        client,
        "select count(*), max(id) AS MaxId, min(trandate) first_day, sum(foreigntotal) "
        "from transaction where currency = 1",
    )["items"][0]
    assert set(item) == {"links", "expr1", "maxid", "first_day", "expr2"}
    con = sqlite3.connect(erp[1])
    rows = con.execute('select foreigntotal from "transaction" where currency = 1').fetchall()
    assert item["expr1"] == str(len(rows))
    assert Decimal(item["expr2"]) == sum(Decimal(r[0]) for r in rows)  # exact, not float
    first = min(r[0] for r in con.execute('select trandate from "transaction" where currency = 1'))
    y, m, d = first.split("-")
    assert item["first_day"] == f"{int(m)}/{int(d)}/{y}"


def test_star_and_qualified_star(erp: tuple[httpx.Client, Path]) -> None:
    client, _ = erp
    item = ok(client, "select * from customer where id = 2")["items"][0]
    assert item["companyname"] == "Company 2" and item["isinactive"] == "F"
    assert "custentity_cl_tax_id" not in item  # NULL for even customers
    assert "terms" not in item
    text = (
        "select c.*, s.name from customer c join subsidiary s on s.id = c.subsidiary where c.id = 2"
    )
    joined = ok(client, text)["items"][0]
    assert joined["name"] == "Sub EUR" and joined["entityid"] == "CUST0002"


# --------------------------------------------------------------------------------------
# Joins, filters, dates
# --------------------------------------------------------------------------------------


def test_inner_join_and_group_by(erp: tuple[httpx.Client, Path]) -> None:
    client, _ = erp
    items = ok(
        client,
        "SELECT t.id, c.companyname, COUNT(*) AS n FROM transaction t "
        "INNER JOIN customer c ON c.id = t.entity "
        "JOIN transactionline tl ON tl.transaction = t.id "
        "WHERE tl.mainline = 'F' AND t.id <= 6 GROUP BY t.id, c.companyname ORDER BY t.id DESC",
    )["items"]
    assert [(i["id"], i["companyname"], i["n"]) for i in items] == [
        (str(k), f"Company {k}", str(k % 3 + 1)) for k in range(6, 0, -1)
    ]


def test_left_join_keeps_rows_and_omits_nulls(erp: tuple[httpx.Client, Path]) -> None:
    client, _ = erp
    items = ok(
        client,
        "select t.id, l.nextdoc from transaction t left outer join previoustransactionlink l "
        "on l.previousdoc = t.id where t.id < 4",
    )["items"]
    assert items == [{"links": [], "id": str(k)} for k in (1, 2, 3)]


def test_date_filters_compare_as_dates(erp: tuple[httpx.Client, Path]) -> None:
    client, path = erp
    con = sqlite3.connect(path)
    feb = {
        str(r[0])
        for r in con.execute(
            "select id from \"transaction\" where trandate between '2025-02-01' and '2025-02-28'"
        )
    }
    for where in (
        "trandate BETWEEN TO_DATE('2025-02-01', 'YYYY-MM-DD') AND TO_DATE('2025-02-28', "
        "'YYYY-MM-DD')",
        "trandate >= '2/1/2025' AND trandate <= '2/28/2025'",
        "trandate >= TO_DATE('02/01/2025', 'MM/DD/YYYY') AND trandate < TO_DATE('03/01/2025', "
        "'MM/DD/YYYY')",
        "TO_CHAR(trandate, 'YYYY-MM') = '2025-02'",
        "trandate >= TO_TIMESTAMP('2025-02-01 00:00:00', 'YYYY-MM-DD HH24:MI:SS') "
        "AND trandate < TO_TIMESTAMP('2025-03-01 00:00:00', 'YYYY-MM-DD HH24:MI:SS')",
    ):
        got = {i["id"] for i in read_all(client, f"select id from transaction where {where}")}
        assert got == feb, where


def test_datetime_filter_and_to_char(erp: tuple[httpx.Client, Path]) -> None:
    client, path = erp
    con = sqlite3.connect(path)
    expected = [
        str(r[0])
        for r in con.execute(
            "select id from \"transaction\" where lastmodifieddate > '2025-03-27 10:30:00' "
            "order by id"
        )
    ]
    items = read_all(
        client,
        "select id, TO_CHAR(lastmodifieddate, 'YYYY-MM-DD HH24:MI:SS') AS lmd, "
        "TO_CHAR(lastmodifieddate, 'DD-MON-YYYY hh:mi AM') AS pretty FROM transaction "
        "WHERE lastmodifieddate > TO_TIMESTAMP('2025-03-27 10:30:00', 'YYYY-MM-DD HH24:MI:SS')",
    )
    assert [i["id"] for i in items] == expected and expected
    first = items[0]
    stored = con.execute(
        'select lastmodifieddate from "transaction" where id = ?', (int(first["id"]),)
    ).fetchone()[0]
    assert first["lmd"] == stored
    assert first["pretty"] == f"{stored[8:10]}-MAR-2025 10:{stored[14:16]} AM"


def test_sysdate_is_the_sandbox_clock(erp: tuple[httpx.Client, Path]) -> None:
    client, _ = erp
    item = ok(
        client,
        "select TO_CHAR(SYSDATE, 'YYYY-MM-DD HH24:MI:SS') AS now, CURRENT_DATE AS today, "
        "NVL(memo, 'none') AS memo from transaction where id = 5",
    )["items"][0]
    assert item == {"links": [], "now": "2025-03-15 12:00:00", "today": "3/15/2025", "memo": "none"}
    n = ok(client, "select count(*) from transaction where trandate > SYSDATE - 7")["items"][0]
    assert int(n["expr1"]) > 0


def test_like_in_not_is_null_case(erp: tuple[httpx.Client, Path]) -> None:
    client, _ = erp
    items = ok(
        client,
        "select id, case when memo is null then 'none' else 'some' end as m from transaction "
        "where tranid like 'INV000001_' and id not in (11, 12) and not (id = 13) "
        "and (memo is not null or id = 15) order by id",
    )["items"]
    assert [(i["id"], i["m"]) for i in items] == [
        ("14", "some"), ("15", "none"), ("16", "some"), ("17", "some"), ("18", "some"),
        ("19", "some"),
    ]  # fmt: skip
    assert ok(client, "select id from customer where companyname like 'company%'")["count"] == 0


def test_currency_comparisons_are_numeric(erp: tuple[httpx.Client, Path]) -> None:
    client, path = erp
    con = sqlite3.connect(path)
    expected = sum(
        1 for (t,) in con.execute('select foreigntotal from "transaction"') if Decimal(t) > 500
    )
    # Text comparison would put "60000" below "600.00" and "10000" below "500".
    got = ok(client, "select count(*) from transaction where foreigntotal > 500")["items"][0]
    assert got["expr1"] == str(expected)


# --------------------------------------------------------------------------------------
# Errors: every malformed request is a 400 in NetSuite's shape
# --------------------------------------------------------------------------------------


def assert_netsuite_error(r: httpx.Response, status: int = 400) -> dict[str, Any]:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"type", "title", "status", "o:errorDetails"}
    assert body["status"] == status
    assert body["type"].startswith("https://www.rfc-editor.org/rfc/rfc9110.html#section-15.")
    detail = body["o:errorDetails"][0]
    assert detail["detail"] and detail["o:errorCode"]
    return detail


BAD_QUERIES = [
    "select id from transaction limit 5",
    "select id from transaction offset 5 rows",
    "select id from transaction fetch first 5 rows only",
    "select id from nosuchtable",
    "select nosuchcolumn from transaction",
    "select x.id from transaction t",
    "select t.nosuch from transaction t",
    "select id from transaction t join customer c on c.id = t.entity",  # ambiguous id
    "select id, count(*) from transaction",  # not a GROUP BY expression
    "select id from transaction where trandate > 'yesterday'",
    "select id from transaction where trandate > TO_DATE('2025-13-45', 'YYYY-MM-DD')",
    "select id from transaction where trandate > TO_DATE('2025-01-01', 'QQQ')",
    "select nosuchfunc(id) from transaction",
    "select id from transaction where",
    "select from transaction",
    "select id from transaction where id = 'unterminated",
    "select id from transaction; drop table customer",
    "select id from transaction union select id from customer",
    "select id from (select id from transaction)",
    "select id from transaction where id in (select id from customer)",
    "",
    "   ",
    "delete from customer",
    "select id from transaction where sum(foreigntotal) > 1",
    "select " + "(" * 5000 + "1" + ")" * 5000 + " from transaction",  # nested too deeply
    "select id from transaction where id = 99999999999999999999999999",
    "select id from transaction where id + 'abc' > 1",
    "select id from transaction order by nosuch",
    "select id from transaction right join customer on customer.id = transaction.entity",
]


@pytest.mark.parametrize("text", BAD_QUERIES)
def test_bad_queries_are_400(erp: tuple[httpx.Client, Path], text: str) -> None:
    client, _ = erp
    detail = assert_netsuite_error(q(client, text))
    assert detail["detail"].startswith("Invalid search query.")
    assert detail["o:errorCode"] == "INVALID_PARAMETER"


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 1001},
        {"limit": "ten"},
        {"limit": ""},
        {"offset": -1},
        {"offset": "1.5"},
        {"offset": 100000},
        {"limit": 10**30},
        {"pageSize": 10},
    ],
)
def test_bad_paging_parameters_are_400(erp: tuple[httpx.Client, Path], params: dict) -> None:
    client, _ = erp
    assert_netsuite_error(q(client, "select id from transaction", **params))


@pytest.mark.parametrize(
    ("content", "headers"),
    [
        (b'{"q": "select id from transaction"}', {}),  # no Prefer: transient
        (b'{"q": "select id from transaction"}', {"Prefer": "respond-async"}),
        (b"select id from transaction", PREFER),  # not JSON
        (b"", PREFER),
        (b'["select id from transaction"]', PREFER),
        (b'{"query": "select id from transaction"}', PREFER),
        (b'{"q": 42}', PREFER),
        (b'{"q": "select id from transaction", "extra": 1}', PREFER),
        (b'{"q": "\xff\xfe"}', PREFER),
    ],
)
def test_bad_bodies_and_headers_are_400(
    erp: tuple[httpx.Client, Path], content: bytes, headers: dict[str, str]
) -> None:
    client, _ = erp
    r = client.post(QUERY, content=content, headers={"Content-Type": "application/json", **headers})
    assert_netsuite_error(r)


def test_wrong_method_and_path_are_netsuite_errors(erp: tuple[httpx.Client, Path]) -> None:
    client, _ = erp
    assert_netsuite_error(client.get(QUERY, headers=PREFER), 405)
    assert_netsuite_error(client.post("/services/rest/query/v2/suiteql", headers=PREFER), 404)
    huge = "select id from transaction where id in (" + ", ".join(["1"] * 60_000) + ")"
    assert_netsuite_error(q(client, huge), 413)


def test_not_generated_sandbox_is_503(tmp_path: Path) -> None:
    paths = schema.SandboxPaths(tmp_path / "sandbox")
    with serve(create_app(paths)) as base, httpx.Client(base_url=base) as client:
        assert_netsuite_error(q(client, "select id from customer"), 503)
        assert_netsuite_error(client.get("/services/rest/record/v1/customer/1"), 503)
    assert not paths.erp.exists()


# --------------------------------------------------------------------------------------
# Generated data
# --------------------------------------------------------------------------------------


def test_full_paged_read_of_generated_small_data(tmp_path: Path) -> None:
    from sandbox.generator import generate

    paths = schema.SandboxPaths(tmp_path / "sandbox")
    generate(paths, seed=1, scale="small")
    con = sqlite3.connect(paths.erp)
    tables = ("customer", "transaction", "transactionline", "previoustransactionlink")
    with serve(create_app(paths)) as base, httpx.Client(base_url=base, timeout=60) as client:
        for table in tables:
            expected = con.execute(f'select count(*) from "{table}"').fetchone()[0]
            items = read_all(client, f"select * from {table}")
            assert len(items) == expected, table
        keys = read_all(client, "select uniquekey from transactionline")
        assert len({i["uniquekey"] for i in keys}) == len(keys)
