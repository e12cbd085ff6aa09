"""A plan that scales with what it writes: the records of updates, deletes and transforms are
read in batched SuiteQL queries; the single-record GET (for the ETag) happens at apply, right
before each write, which lands only if the record still holds what the plan read.

Real sandbox ERP over HTTP, the ledger in a real DuckDB file; what landed is counted in the
ERP's own `_write_log`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from reverse_etl.apply import apply_plan
from reverse_etl.client import RECORD_PREFIX, ErpResponse, RecordClient, RetryPolicy
from reverse_etl.corrections import Correction
from reverse_etl.ledger import Ledger
from reverse_etl.plan import APPLY, APPROVAL, SKIP, UNCHANGED_PREFIX, PlanItem, Planner
from reverse_etl.policy import Policy
from tests.reverse_etl.support import (
    TOKEN,
    assert_same_plan,
    client_for,
    erp_db,
    erp_served,
    fast_policy,
    truth_corrections,
    write_log_count,
    writes_per_key,
)

#: The target of issue 15: at most one plan request per 50 corrections planned, plus one per
#: correction applied.
PLANNED_PER_REQUEST = 50


def noop_corrections(home: Path, customers: int, invoices: int) -> list[Correction]:
    """Corrections the ERP already satisfies (a re-plan of work done, a reconciliation that
    lags the ERP): customer names as they are, paid invoices marked paid."""
    with contextlib.closing(erp_db(home)) as con:
        names = con.execute(
            "select id, companyname from customer order by id limit ?", (customers,)
        ).fetchall()
        paid = con.execute(
            "select id from \"transaction\" where type = 'CustInvc' and status = 'B' "
            "order by id limit ?",
            (invoices,),
        ).fetchall()
    out = [
        Correction(
            correction_id=f"noop-cus-{rid}", exception_id=f"noop-cus-{rid}",
            exception_type="customer_attribute_mismatch", record_type="customer",
            action="update", erp_id=str(rid), field="companyname", record_field="companyName",
            current_value=name, desired_value=name,
        )
        for rid, name in names
    ]  # fmt: skip
    out += [
        Correction(
            correction_id=f"noop-inv-{rid}", exception_id=f"noop-inv-{rid}",
            exception_type="invoice_status_mismatch", record_type="invoice", action="update",
            erp_id=str(rid), field="status", record_field="status", current_value="B",
            desired_value="B",
        )
        for (rid,) in paid
    ]  # fmt: skip
    return out


def plan_counted(url: str, policy: Policy, corrections: list[Correction], batch: bool) -> Any:
    """(items, requests the plan sent) with a fresh client."""
    with client_for(url, policy) as client:
        items = Planner(client, policy, batch_reads=batch).plan(corrections)
        return items, client.requests_sent


def test_plan_requests_within_one_per_50_planned_plus_one_per_applied(
    sandbox_home: Path, tmp_path: Path
) -> None:
    """Every kind of correction (open and closed periods, creates, updates, deletes,
    transforms) plus 600 the ERP already satisfies: the same plan as one GET per record, and
    the reads of plan and apply together within the target."""
    corrections = truth_corrections(sandbox_home, closed=None)
    corrections += noop_corrections(sandbox_home, customers=250, invoices=350)
    policy = fast_policy()
    with erp_served(sandbox_home) as (url, _):
        per_record, sent_per_record = plan_counted(url, policy, corrections, batch=False)
        items, plan_requests = plan_counted(url, policy, corrections, batch=True)
        with client_for(url, policy) as client:
            assert_same_plan(items, per_record, client)

        decisions = Counter(i.decision for i in items)
        assert decisions[SKIP] >= 600 and decisions[APPLY] >= 20 and decisions[APPROVAL] >= 20
        assert sent_per_record >= len(corrections) - 5
        # the plan: queries by the chunk, a GET only for a write whose body needs the whole
        # record (an open-period invoice total: its item sublist)
        whole_record = sum(
            1 for i in items if i.if_match and not i.if_match.startswith(UNCHANGED_PREFIX)
        )
        assert plan_requests <= math.ceil(len(items) / PLANNED_PER_REQUEST) + whole_record
        assert plan_requests * 20 < sent_per_record

        with client_for(url, policy) as client, Ledger(tmp_path / "w.duckdb") as ledger:
            ledger.store_plan(items, "plan")
            before = write_log_count(sandbox_home)
            result = apply_plan(ledger, client, policy)
            written = write_log_count(sandbox_home) - before
        assert result.applied == decisions[APPLY] == written
        assert result.stale == result.failed == result.rejected == 0
        # apply: one GET (the ETag, the preconditions) and one write per batch-planned item;
        # a create (an upsert by external id) and an item with its ETag only write
        apply_reads = result.requests - written
        assert apply_reads == sum(
            1
            for i in items
            if i.decision == APPLY and (i.if_match or "").startswith(UNCHANGED_PREFIX)
        )
        budget = math.ceil(len(items) / PLANNED_PER_REQUEST) + result.applied
        assert plan_requests + apply_reads <= budget, (plan_requests, apply_reads, budget)


def _edit(url: str, rtype: str, rid: str, body: dict[str, Any]) -> None:
    """Someone edits the record in the ERP by hand."""
    r = httpx.patch(
        f"{url}{RECORD_PREFIX}/{rtype}/{rid}",
        headers={"Authorization": f"Bearer {TOKEN}"},
        json=body,
    )
    assert r.status_code == 204, r.text


def test_a_record_changed_since_the_plan_is_not_overwritten_and_a_second_apply_writes_nothing(
    sandbox_home: Path, tmp_path: Path
) -> None:
    corrections = truth_corrections(sandbox_home)
    policy = fast_policy()
    with (
        erp_served(sandbox_home) as (url, _),
        client_for(url, policy) as client,
        Ledger(tmp_path / "w.duckdb") as ledger,
    ):
        items = Planner(client, policy).plan(corrections)
        ledger.store_plan(items, "plan")
        ready = {i.correction_id: i for i in items if i.decision == APPLY}
        batched = [i for i in ready.values() if (i.if_match or "").startswith(UNCHANGED_PREFIX)]
        kinds = {(i.record_type, i.field) for i in batched}
        assert {("customer", "companyname"), ("invoice", "status")} <= kinds

        # after the plan, by hand: the name fixed differently, and an unrelated field (the
        # memo) of an invoice the plan re-saves
        name = next(i for i in batched if i.record_type == "customer")
        paid = next(i for i in batched if i.field == "status")
        _edit(url, "customer", name.erp_id or "", {"companyName": "Edited By Hand Ltd"})
        _edit(url, "invoice", paid.erp_id or "", {"memo": "edited by hand"})
        before = write_log_count(sandbox_home)
        result = apply_plan(ledger, client, policy)

        assert result.stale == 2 and result.failed == result.rejected == 0
        assert result.applied == len(ready) - 2
        assert write_log_count(sandbox_home) - before == len(ready) - 2
        keyed = {k: n for k, n in writes_per_key(sandbox_home).items() if k is not None}
        assert set(keyed.values()) == {1}  # the hand edits carry no key
        statuses = ledger.statuses()
        assert statuses[name.correction_id] == statuses[paid.correction_id] == "stale"
        with contextlib.closing(erp_db(sandbox_home)) as con:
            row = con.execute(
                "select companyname from customer where id = ?", (int(name.erp_id or 0),)
            ).fetchone()
            assert row[0] == "Edited By Hand Ltd"
            status = con.execute(
                'select status, memo from "transaction" where id = ?', (int(paid.erp_id or 0),)
            ).fetchone()
            # the hand edit re-saved the invoice (NetSuite derives its status then): the
            # correction's re-save was not sent on top of it
            assert tuple(status) == ("B", "edited by hand")
        attempt = ledger.con.execute(
            "select result, erp_response from writeback_ledger.attempts where correction_id = ?",
            [name.correction_id],
        ).fetchone()
        assert attempt[0] == "stale" and "companyName" in attempt[1]

        # a second apply writes nothing and asks nothing
        again = apply_plan(ledger, client, policy)
        assert again.applied == again.already_landed == again.requests == 0
        assert write_log_count(sandbox_home) - before == len(ready) - 2

        # a re-plan plans the stale ones against what the ERP holds now (the invoice is paid
        # now: nothing to do); the rest is kept
        replanned = Planner(client, policy).plan(corrections)
        counts = ledger.store_plan(replanned, "replan")
        assert counts["kept"] == len(ready) - 2 and counts.get(APPLY) == 1
        assert ledger.statuses()[paid.correction_id] == "skipped"
        assert apply_plan(ledger, client, policy).applied == 1
        assert write_log_count(sandbox_home) - before == len(ready) - 1
        assert apply_plan(ledger, client, policy).requests == 0


class _EditAfterRead(RecordClient):
    """A client that lets someone edit the record in the window between apply's GET and its
    write: the write's `If-Match` (the ETag of that GET) must then be refused."""

    victim: str = ""

    def get(self, record_type: str, ref: str) -> ErpResponse | None:
        resp = super().get(record_type, ref)
        if f"/{record_type}/{ref}" == self.victim:
            self.victim = ""
            _edit(self.base_url, record_type, ref, {"email": "edited@example.com"})
        return resp


def test_an_edit_between_the_apply_read_and_the_write_is_refused_by_if_match(
    sandbox_home: Path, tmp_path: Path
) -> None:
    names = [
        c
        for c in truth_corrections(sandbox_home)
        if c.exception_type == "customer_attribute_mismatch"
    ][:2]
    policy = fast_policy()
    with erp_served(sandbox_home) as (url, _), Ledger(tmp_path / "w.duckdb") as ledger:
        with client_for(url, policy) as planner_client:
            items: list[PlanItem] = Planner(planner_client, policy).plan(names)
        assert all((i.if_match or "").startswith(UNCHANGED_PREFIX) for i in items)
        ledger.store_plan(items, "plan")
        retry = RetryPolicy(policy.max_attempts, policy.backoff_seconds, policy.max_backoff_seconds)
        client = _EditAfterRead(url, TOKEN, policy.requests_per_second, retry)
        client.victim = f"/customer/{names[0].erp_id}"
        before = write_log_count(sandbox_home)
        with client:
            result = apply_plan(ledger, client, dataclasses.replace(policy, concurrency=1))
        assert (result.applied, result.stale) == (1, 1)
        # the edit and the other correction landed; the stale one did not
        assert write_log_count(sandbox_home) - before == 2
        assert ledger.statuses()[names[0].correction_id] == "stale"
        attempt = ledger.con.execute(
            "select http_status from writeback_ledger.attempts where correction_id = ?",
            [names[0].correction_id],
        ).fetchone()
        assert attempt[0] == 412
        with contextlib.closing(erp_db(sandbox_home)) as con:
            row = con.execute(
                "select companyname, email from customer where id = ?", (int(names[0].erp_id or 0),)
            ).fetchone()
        assert tuple(row) == (names[0].current_value, "edited@example.com")


class _NoCustomField:
    """An account without the custom field `custentity_cl_tax_id`: SuiteQL naming it is refused
    as NetSuite refuses an unknown field; the record API simply does not show it."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].endswith("/query/v1/suiteql"):
            await self.app(scope, receive, send)
            return
        chunks, more = [], True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        body = b"".join(chunks)
        if b"custentity_cl_tax_id" in body:
            error = (
                b'{"o:errorDetails": [{"o:errorCode": "INVALID_PARAMETER", "detail": "Invalid '
                b"search query. Search error occurred: Field 'custentity_cl_tax_id' for record "
                b"'customer' was not found.\"}]}"
            )
            headers = [(b"content-type", b"application/json")]
            await send({"type": "http.response.start", "status": 400, "headers": headers})
            await send({"type": "http.response.body", "body": error})
            return
        replayed = False

        async def replay() -> Any:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def test_a_field_suiteql_cannot_read_costs_a_get_only_where_it_is_needed(
    sandbox_home: Path, caplog: Any
) -> None:
    """The customer query is asked again without the custom field; only the correction that
    writes it reads its record with a GET. Same items as one GET per correction."""
    import logging

    from sandbox.erp import create_app
    from sandbox.http_common import wrap
    from sandbox.schema import SandboxPaths
    from sandbox.testing import serve

    names = [
        c
        for c in truth_corrections(sandbox_home)
        if c.exception_type == "customer_attribute_mismatch"
    ]
    tax = dataclasses.replace(
        names[0], correction_id="tax-id", exception_id="tax-id", field="custentity_cl_tax_id",
        record_field=None, payload={"custentity_cl_tax_id": "DE123456789"},
    )  # fmt: skip
    corrections = [*names, tax]
    policy = fast_policy()
    app = wrap(create_app(SandboxPaths.under(sandbox_home)), system="erp", token=TOKEN)
    with serve(app) as url, serve(_NoCustomField(app)) as no_field_url:
        per_record, _ = plan_counted(str(url), policy, corrections, batch=False)
        with caplog.at_level(logging.WARNING):
            items, sent = plan_counted(str(no_field_url), policy, corrections, batch=True)
        with client_for(str(url), policy) as client:
            assert_same_plan(items, per_record, client)
    # periods, currencies, the refused customer query and the one without the custom field,
    # then one GET: the correction that writes the custom field
    assert sent == 2 + 1 + 1 + 1
    assert items[-1].if_match and not items[-1].if_match.startswith(UNCHANGED_PREFIX)
    assert all((i.if_match or "").startswith(UNCHANGED_PREFIX) for i in items[:-1])
    assert any("without its custom fields" in r.message for r in caplog.records)
