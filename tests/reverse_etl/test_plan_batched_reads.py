"""The plan asks whether creates' external ids exist, and reads the records of updates, deletes
and transforms, in batched SuiteQL queries: the same items as one GET per correction, for far
fewer requests. Real sandbox ERP over HTTP."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reverse_etl.apply import apply_plan
from reverse_etl.client import RECORD_PREFIX
from reverse_etl.corrections import Correction
from reverse_etl.ledger import Ledger
from reverse_etl.plan import APPLY, EXISTS_CHUNK, SKIP, PlanContext, PlanItem, Planner
from reverse_etl.policy import Policy
from sandbox.erp import create_app
from sandbox.http_common import wrap
from sandbox.schema import SandboxPaths
from sandbox.testing import serve
from tests.reverse_etl.support import (
    TOKEN,
    assert_same_plan,
    client_for,
    erp_db,
    erp_served,
    fast_policy,
    truth_corrections,
)

#: ERP records given external ids that need quoting, or that an `eid:` path cannot carry.
QUOTED_CUSTOMER = "o'brien & co's"
PERCENT_INVOICE = "pct%41x"


def plan_with(url: str, policy: Policy, corrections: list[Correction], batch: bool) -> Any:
    """(items, requests sent) of one plan with a fresh client."""
    with client_for(url, policy) as client:
        items = Planner(client, policy, batch_reads=batch).plan(corrections)
        return items, client.requests_sent


def as_dicts(items: list[PlanItem]) -> list[dict[str, Any]]:
    return [i.as_dict() for i in items]


def one(con: Any, sql: str, *args: Any) -> Any:
    row = con.execute(sql, args).fetchone()
    assert row is not None, sql
    return row[0]


@dataclasses.dataclass
class Seeded:
    home: Path
    corrections: list[Correction]
    invoice_ext: str
    invoice_id: str
    payment_ext: str
    customer_ext: str
    customer_id: str
    quoted_customer_id: str


def seed(home: Path) -> Seeded:
    """Ground-truth corrections plus creates whose external ids exist, exist under another
    type, need quoting, or hold a character the record path cannot carry."""
    base = truth_corrections(home, closed=None)
    inv = next(c for c in base if c.exception_type == "invoice_missing_in_erp")
    cus = next(c for c in base if c.exception_type == "customer_missing_in_erp")
    with contextlib.closing(erp_db(home)) as con:
        inv_id, inv_ext = con.execute(
            "select id, externalid from \"transaction\" where type = 'CustInvc' "
            "and externalid is not null order by id limit 1"
        ).fetchone()
        pay_ext = one(
            con,
            "select externalid from \"transaction\" where type = 'CustPymt' "
            "and externalid is not null order by id limit 1",
        )
        assert one(con, 'select count(*) from "transaction" where externalid = ?', pay_ext) == 1
        cus_rows = con.execute(
            "select id, externalid from customer where externalid is not null order by id limit 2"
        ).fetchall()
        con.execute(
            "update customer set externalid = ? where id = ?", (QUOTED_CUSTOMER, cus_rows[1][0])
        )
        con.execute(
            'update "transaction" set externalid = ? where id = ?',
            (PERCENT_INVOICE, one(con, 'select id from "transaction" where id > ? and '
                                  "type = 'CustInvc' order by id limit 1", inv_id)),
        )  # fmt: skip
        con.commit()

    def create(template: Correction, cid: str, ext: str) -> Correction:
        return dataclasses.replace(template, correction_id=cid, exception_id=cid, external_id=ext)

    extra = [
        create(inv, "x-inv-exists", inv_ext),
        # a payment holds this external id, no invoice does: the invoice is not there yet
        create(inv, "x-inv-as-payment", pay_ext),
        create(cus, "x-cus-exists", cus_rows[0][1]),
        create(cus, "x-quote-exists", QUOTED_CUSTOMER),
        create(cus, "x-quote-new", "new o'neil ''ltd'"),
        # `%41` in a record path reads as `A`: the GET decides, as it always did
        create(inv, "x-percent", PERCENT_INVOICE),
        create(cus, "x-slash", "a/b"),
    ]
    return Seeded(
        home,
        base + extra,
        inv_ext,
        str(inv_id),
        pay_ext,
        cus_rows[0][1],
        str(cus_rows[0][0]),
        str(cus_rows[1][0]),
    )


@pytest.fixture
def seeded(sandbox_home: Path) -> Iterator[tuple[str, Seeded]]:
    data = seed(sandbox_home)
    with erp_served(sandbox_home) as (url, _):
        yield url, data


def test_batched_plan_is_the_per_record_plan_for_fewer_requests(
    seeded: tuple[str, Seeded],
) -> None:
    url, data = seeded
    policy = fast_policy()
    per_record, sent_per_record = plan_with(url, policy, data.corrections, batch=False)
    batched, sent_batched = plan_with(url, policy, data.corrections, batch=True)

    # decision by decision the same: reasons, requests, bodies, checks, before (the versions
    # of records read in a batch are the values read, checked against the record API)
    with client_for(url, policy) as client:
        assert_same_plan(batched, per_record, client)

    creates = [c for c in data.corrections if c.action == "create"]
    others = len(data.corrections) - len(creates)
    assert len(creates) >= 10 and others >= 10
    # creates and the records of the others cost a query per chunk and family, plus the two
    # ids that cannot ride in a query (and their adjusting-document check), the lines of
    # closed-period totals, and a GET per open-period invoice total to write (its body is
    # the item sublist)
    totals = sum(1 for i in batched if i.field == "foreigntotal" and i.method == "PATCH")
    chunks = 2 * math.ceil(len(creates) / EXISTS_CHUNK) + 2 * math.ceil(others / EXISTS_CHUNK)
    assert sent_batched <= 2 + chunks + 4 + 1 + totals
    assert sent_per_record - sent_batched >= len(data.corrections) - 4 - totals - chunks

    items = {i.correction_id: i for i in batched}
    assert items["x-inv-exists"].decision == SKIP
    assert items["x-inv-exists"].reason == f"already in the ERP (invoice {data.invoice_id})"
    assert items["x-cus-exists"].reason == f"already in the ERP (customer {data.customer_id})"
    assert items["x-quote-exists"].decision == SKIP
    assert items["x-quote-exists"].reason == (
        f"already in the ERP (customer {data.quoted_customer_id})"
    )
    assert items["x-inv-as-payment"].decision != SKIP
    assert items["x-quote-new"].decision == APPLY
    assert items["x-quote-new"].path == f"{RECORD_PREFIX}/customer/eid:new o'neil ''ltd'"
    # `eid:pct%41x` asks the record API about `pctAx`, which does not exist
    assert items["x-percent"].decision != SKIP


def test_a_quoted_create_lands_and_a_replan_finds_it_in_one_query(
    seeded: tuple[str, Seeded], tmp_path: Path
) -> None:
    url, data = seeded
    policy = fast_policy()
    new = next(c for c in data.corrections if c.correction_id == "x-quote-new")
    (item,) = plan_with(url, policy, [new], batch=True)[0]
    assert item.decision == APPLY
    with client_for(url, policy) as client, Ledger(tmp_path / "w.duckdb") as ledger:
        ledger.store_plan([item], "plan")
        assert apply_plan(ledger, client, policy).applied == 1

    with contextlib.closing(erp_db(data.home)) as con:
        created = one(con, "select id from customer where externalid = ?", new.external_id)
    items, sent = plan_with(url, policy, [new], batch=True)
    (again,) = items
    assert again.decision == SKIP and again.reason == f"already in the ERP (customer {created})"
    assert sent == 2 + 1  # periods and currencies, then one existence query: no GET
    assert as_dicts(items) == as_dicts(plan_with(url, policy, [new], batch=False)[0])


def test_many_creates_are_chunked(sandbox_home: Path) -> None:
    """850 customer creates (every existing external id plus new ones, some quoted): three
    queries of at most 400 ids each, and the same items as 850 GETs."""
    base = truth_corrections(sandbox_home, closed=None)
    cus = next(c for c in base if c.exception_type == "customer_missing_in_erp")
    with contextlib.closing(erp_db(sandbox_home)) as con:
        existing = [
            r[0]
            for r in con.execute(
                "select externalid from customer where externalid is not null order by id"
            )
        ]
    new = [f"new-{n:04d}" + ("'q" if n % 7 == 0 else "") for n in range(850 - len(existing))]
    creates = [
        dataclasses.replace(cus, correction_id=f"m-{n}", exception_id=f"m-{n}", external_id=ext)
        for n, ext in enumerate(existing + new)
    ]
    policy = fast_policy()
    with erp_served(sandbox_home) as (url, _):
        per_record, sent_per_record = plan_with(url, policy, creates, batch=False)
        batched, sent_batched = plan_with(url, policy, creates, batch=True)
    assert as_dicts(batched) == as_dicts(per_record)
    assert sent_per_record == 2 + 850
    assert sent_batched == 2 + math.ceil(850 / EXISTS_CHUNK) == 5
    decisions = [i.decision for i in batched]
    assert decisions.count(SKIP) == len(existing) and decisions.count(APPLY) == len(new)


class _NoSuiteQL:
    """A role without SuiteQL permission: every query is refused (403), records still read."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].endswith("/query/v1/suiteql"):
            body = (
                b'{"o:errorDetails": [{"o:errorCode": "INSUFFICIENT_PERMISSION", '
                b'"detail": "SuiteQL is not permitted for this role."}]}'
            )
            headers = [(b"content-type", b"application/json")]
            await send({"type": "http.response.start", "status": 403, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)


def test_a_refused_query_falls_back_to_one_get_each(
    sandbox_home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = seed(sandbox_home)
    policy = fast_policy()
    app = wrap(create_app(SandboxPaths.under(sandbox_home)), system="erp", token=TOKEN)
    with erp_served(sandbox_home) as (url, _), serve(_NoSuiteQL(app)) as no_query_url:
        per_record, sent_per_record = plan_with(url, policy, data.corrections, batch=False)
        with client_for(url, policy) as reader:
            context = PlanContext.load(reader)
        with client_for(str(no_query_url), policy) as client, caplog.at_level(logging.WARNING):
            planner = Planner(client, policy, context, batch_reads=True)
            items = planner.plan(data.corrections)
            sent = client.requests_sent
    assert as_dicts(items) == as_dicts(per_record)
    # one refused query (a 403 is not retried, and SuiteQL is not asked again), then a GET each
    assert sent == sent_per_record - 2 + 1
    warnings = [r for r in caplog.records if "batched existence query failed" in r.message]
    assert len(warnings) == 1
