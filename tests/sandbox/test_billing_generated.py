"""The billing API over the generator's `small` sandbox: full reads return every stored row."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import stripe
from starlette.testclient import TestClient

from sandbox.billing import create_app
from sandbox.billing.store import EVENT_RETENTION_SECONDS, BillingStore
from sandbox.schema import SandboxPaths
from sandbox.testing import serve

BASIL = {"Stripe-Version": "2025-03-31.basil"}


@pytest.fixture(scope="module")
def paths(tmp_path_factory: pytest.TempPathFactory) -> SandboxPaths:
    from sandbox.generator import generate

    paths = SandboxPaths(Path(tmp_path_factory.mktemp("generated")) / "sandbox")
    generate(paths, seed=1, scale="small")
    return paths


@pytest.fixture(scope="module")
def client(paths: SandboxPaths) -> Iterator[TestClient]:
    with TestClient(create_app(paths)) as c:
        yield c


def _db(paths: SandboxPaths) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{paths.billing}?mode=ro", uri=True)


def _read_all(
    client: TestClient, url: str, headers: dict[str, str] | None = None, **params: Any
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    query: dict[str, Any] = {"limit": 100, **params}
    while True:
        r = client.get(url, params=query, headers=headers or {})
        assert r.status_code == 200, r.text
        body = orjson.loads(r.content)
        out += body["data"]
        if not body["has_more"]:
            return out
        query["starting_after"] = body["data"][-1]["id"]


def test_full_paged_read_returns_every_invoice_in_order(
    client: TestClient, paths: SandboxPaths
) -> None:
    expected = [
        r[0] for r in _db(paths).execute("select id from invoices order by created desc, id desc")
    ]
    assert expected
    got = [d["id"] for d in _read_all(client, "/v1/invoices")]
    assert got == expected


@pytest.mark.parametrize(
    "table", ["products", "prices", "charges", "payment_intents", "refunds", "credit_notes"]
)
def test_full_paged_read_of_other_collections(
    client: TestClient, paths: SandboxPaths, table: str
) -> None:
    expected = {r[0] for r in _db(paths).execute(f"select id from {table}")}
    got = [d["id"] for d in _read_all(client, f"/v1/{table}")]
    assert len(got) == len(set(got))
    assert set(got) == expected


def test_customers_hide_deleted_and_subscriptions_hide_canceled(
    client: TestClient, paths: SandboxPaths
) -> None:
    db = _db(paths)
    live = {r[0] for r in db.execute("select id from customers where deleted = 0")}
    assert {d["id"] for d in _read_all(client, "/v1/customers")} == live
    gone = db.execute("select id from customers where deleted = 1 limit 1").fetchone()
    if gone:
        assert client.get(f"/v1/customers/{gone[0]}").json() == {
            "id": gone[0],
            "object": "customer",
            "deleted": True,
        }
    all_subs = {r[0] for r in db.execute("select id from subscriptions")}
    open_subs = {
        r[0] for r in db.execute("select id from subscriptions where status != 'canceled'")
    }
    assert {d["id"] for d in _read_all(client, "/v1/subscriptions")} == open_subs
    assert {d["id"] for d in _read_all(client, "/v1/subscriptions", status="all")} == all_subs


def test_lines_of_every_long_invoice_page_to_the_end(
    client: TestClient, paths: SandboxPaths
) -> None:
    db = _db(paths)
    long_invoices = [
        r[0]
        for r in db.execute(
            "select invoice from invoice_lines group by invoice having count(*) > 10 limit 5"
        )
    ]
    for invoice in long_invoices:
        expected = [
            r[0]
            for r in db.execute(
                "select id from invoice_lines where invoice = ? order by seq", (invoice,)
            )
        ]
        inv = client.get(f"/v1/invoices/{invoice}").json()
        assert inv["lines"]["total_count"] == len(expected)
        embedded = [line["id"] for line in inv["lines"]["data"]]
        rest = _read_all(client, inv["lines"]["url"], starting_after=embedded[-1])
        assert embedded + [line["id"] for line in rest] == expected


def test_basil_render_of_every_invoice(client: TestClient, paths: SandboxPaths) -> None:
    invoices = _read_all(client, "/v1/invoices", headers=BASIL)
    assert len(invoices) == _db(paths).execute("select count(*) from invoices").fetchone()[0]
    for inv in invoices:
        assert "subscription" not in inv and "charge" not in inv and "paid" not in inv
        for line in inv["lines"]["data"]:
            assert "price" not in line and line["pricing"]["type"] == "price_details"


def test_events_are_the_last_30_days_only(client: TestClient, paths: SandboxPaths) -> None:
    clock = BillingStore(paths).clock()
    events = _read_all(client, "/v1/events")
    expected = _db(paths).execute(
        "select count(*) from events where created >= ?", (clock - EVENT_RETENTION_SECONDS,)
    )
    assert len(events) == expected.fetchone()[0]
    assert all(e["created"] >= clock - EVENT_RETENTION_SECONDS for e in events)


def test_stripe_python_reads_every_generated_customer(
    paths: SandboxPaths, monkeypatch: pytest.MonkeyPatch
) -> None:
    live = {r[0] for r in _db(paths).execute("select id from customers where deleted = 0")}
    with serve(create_app(paths)) as base_url:
        monkeypatch.setattr(stripe, "api_key", "sk_test_sandbox")
        monkeypatch.setattr(stripe, "api_base", base_url)
        ids = [c.id for c in stripe.Customer.list(limit=100).auto_paging_iter()]
    assert len(ids) == len(live)
    assert set(ids) == live
