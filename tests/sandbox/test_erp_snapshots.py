"""SuiteQL paging from result snapshots: later pages are served by key from the first page's
snapshot, stay put while the data changes, and give exactly what one query would."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from sandbox import schema
from sandbox.erp import create_app
from sandbox.erp.snapshots import Snapshot, SnapshotCache
from sandbox.testing import serve
from tests.sandbox.test_erp_fixtures import build

QUERY = "/services/rest/query/v1/suiteql"
PREFER = {"Prefer": "transient"}
LINES = (
    "SELECT t.*, TO_CHAR(t.linelastmodifieddate, 'YYYY-MM-DD HH24:MI:SS') AS x "
    "FROM transactionline t ORDER BY t.linelastmodifieddate, t.uniquekey"
)


@pytest.fixture
def env(tmp_path: Any) -> Iterator[tuple[httpx.Client, schema.SandboxPaths]]:
    paths = build(tmp_path, n_invoices=120, n_customers=10)
    with serve(create_app(paths)) as base, httpx.Client(base_url=base, timeout=30) as client:
        yield client, paths


def page(client: httpx.Client, text: str, limit: int, offset: int) -> dict[str, Any]:
    r = client.post(
        QUERY, params={"limit": limit, "offset": offset}, json={"q": text}, headers=PREFER
    )
    assert r.status_code == 200, r.text
    return r.json()


def read_all(client: httpx.Client, text: str, limit: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    offset = 0
    while True:
        body = page(client, text, limit, offset)
        items += body["items"]
        if not body["hasMore"]:
            return items
        offset += limit


def one_query(paths: schema.SandboxPaths, text: str) -> list[dict[str, Any]]:
    """The whole result in one page (limit 1000 covers the fixture), as a reference."""
    with serve(create_app(paths)) as base, httpx.Client(base_url=base, timeout=30) as client:
        body = page(client, text, 1000, 0)
    assert not body["hasMore"]
    return list(body["items"])


@pytest.mark.parametrize(
    "text",
    [
        LINES,
        "SELECT l.uniquekey, h.tranid, c.companyname FROM transactionline l "
        "JOIN transaction h ON h.id = l.transaction LEFT JOIN customer c ON c.id = h.entity "
        "WHERE l.mainline = 'F' ORDER BY c.companyname DESC, l.foreignamount",
        "SELECT t.id, p.nextdoc FROM transaction t "
        "LEFT JOIN previoustransactionlink p ON p.previousdoc = t.id ORDER BY t.trandate",
        "SELECT entity, COUNT(*) AS n, SUM(foreigntotal) AS s FROM transaction GROUP BY entity",
        "SELECT DISTINCT currency FROM transaction",
    ],
)
def test_pages_equal_one_query(env: tuple[httpx.Client, schema.SandboxPaths], text: str) -> None:
    client, paths = env
    assert read_all(client, text, limit=7) == one_query(paths, text)


def test_later_pages_keep_the_first_pages_positions_while_data_changes(
    env: tuple[httpx.Client, schema.SandboxPaths],
) -> None:
    client, paths = env
    first = page(client, LINES, 50, 0)
    total = first["totalResults"]
    con = sqlite3.connect(paths.erp)
    # Move the first page's rows to the end of the order and delete a row of page 2.
    moved = [int(i["uniquekey"]) for i in first["items"]]
    con.executemany(
        "update transactionline set linelastmodifieddate = '2025-12-31 00:00:00' "
        "where uniquekey = ?",
        [(k,) for k in moved],
    )
    page2_keys = [int(i["uniquekey"]) for i in page(client, LINES, 50, 50)["items"]]
    con.execute("delete from transactionline where uniquekey = ?", (page2_keys[0],))
    con.commit()
    con.close()
    second = page(client, LINES, 50, 50)
    # Same positions as at the first page's moment, minus the deleted row; values are fresh.
    assert [int(i["uniquekey"]) for i in second["items"]] == page2_keys[1:]
    assert second["totalResults"] == total and second["hasMore"]  # short, but not the end
    # A new read (offset 0) sees the changes.
    again = page(client, LINES, 50, 0)
    assert again["totalResults"] == total - 1
    assert moved[0] not in [int(i["uniquekey"]) for i in again["items"]]


def test_offset_zero_sees_writes(env: tuple[httpx.Client, schema.SandboxPaths]) -> None:
    client, paths = env
    text = "SELECT id, memo FROM transaction WHERE id <= 3"
    assert page(client, text, 2, 0)["totalResults"] == 3
    con = sqlite3.connect(paths.erp)
    con.execute("update \"transaction\" set memo = 'changed' where id = 1")
    con.execute('delete from "transaction" where id = 3')
    con.commit()
    con.close()
    body = page(client, text, 2, 0)
    assert body["totalResults"] == 2 and body["items"][0]["memo"] == "changed"


def test_a_later_page_without_a_snapshot_is_still_right(
    env: tuple[httpx.Client, schema.SandboxPaths],
) -> None:
    client, paths = env
    reference = one_query(paths, LINES)
    assert page(client, LINES, 10, 30)["items"] == reference[30:40]


def test_cache_is_lru_with_ttl() -> None:
    cache = SnapshotCache(capacity=2, ttl=0.2)
    for n in range(3):
        cache.put(("q", n), Snapshot(n))
    assert cache.get(("q", 0)) is None and len(cache) == 2  # least recently used dropped
    assert cache.get(("q", 1)) is not None
    time.sleep(0.25)
    assert cache.get(("q", 2)) is None  # expired


def test_key_pages_map_missing_join_rows_to_none() -> None:
    snap = Snapshot.from_key_rows(3, [(1, None), (2, 5), (3, None)], 2)
    assert snap.key_page(1, 5) == [[2, 5], [3, None]]
