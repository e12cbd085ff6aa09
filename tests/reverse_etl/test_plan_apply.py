"""Plan and apply against the ERP sandbox over HTTP, with the ledger in a real DuckDB file.

Corrections are built from the sandbox's ground truth; what landed is counted in the ERP's
own `_write_log`.
"""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from reverse_etl.apply import apply_plan
from reverse_etl.client import RecordClient
from reverse_etl.corrections import Correction
from reverse_etl.ledger import Ledger
from reverse_etl.plan import APPLY, APPROVAL, REFUSED, SKIP, PlanItem, Planner
from reverse_etl.policy import Policy, RecordRule
from reverse_etl.verify import verify
from sandbox.http_common import FaultConfig, SandboxMiddleware
from tests.reverse_etl.support import (
    TOKEN,
    client_for,
    erp_db,
    erp_served,
    fast_policy,
    truth_corrections,
    write_log_count,
    writes_per_key,
)


@dataclass
class Env:
    home: Path
    url: str
    app: SandboxMiddleware
    client: RecordClient
    ledger: Ledger
    policy: Policy

    def plan(self, corrections: list[Correction], policy: Policy | None = None) -> list[PlanItem]:
        items = Planner(self.client, policy or self.policy).plan(corrections)
        self.ledger.store_plan(items, "test-plan")
        return items


@pytest.fixture
def env(sandbox_home: Path, tmp_path: Path) -> Iterator[Env]:
    policy = fast_policy()
    with erp_served(sandbox_home) as (url, app):
        client = client_for(url, policy)
        ledger = Ledger(tmp_path / "warehouse.duckdb")
        try:
            yield Env(sandbox_home, url, app, client, ledger, policy)
        finally:
            ledger.close()
            client.close()


def by_type(corrections: list[Correction], etype: str) -> list[Correction]:
    return [c for c in corrections if c.exception_type == etype]


def erp_get(env: Env, rtype: str, rid: str) -> httpx.Response:
    return httpx.get(
        f"{env.url}/services/rest/record/v1/{rtype}/{rid}",
        headers={"Authorization": f"Bearer {TOKEN}"},
    )


# --------------------------------------------------------------------------------------
# Plan decisions and refusals
# --------------------------------------------------------------------------------------


def test_plan_open_period_corrections_and_apply_once(env: Env) -> None:
    corrections = truth_corrections(env.home, closed=False)
    items = env.plan(corrections)
    decisions = Counter(i.decision for i in items)
    assert decisions[APPLY] >= 20 and decisions[REFUSED] == 0
    assert {i.exception_type for i in items if i.decision == APPROVAL} == {
        "invoice_duplicate_in_erp",
        "invoice_currency_mismatch",
    }
    to_apply = [i for i in items if i.decision == APPLY]
    before = write_log_count(env.home)

    result = apply_plan(env.ledger, env.client, env.policy)
    assert result.applied == len(to_apply) and result.rejected == result.failed == 0
    assert write_log_count(env.home) - before == len(to_apply)
    assert set(writes_per_key(env.home).values()) == {1}

    # the ERP now holds what the systems of record say
    fixed = next(c for c in corrections if c.exception_type == "invoice_amount_mismatch")
    assert Decimal(str(erp_get(env, "invoice", fixed.erp_id or "").json()["total"])) == Decimal(
        fixed.desired_value or ""
    )
    name = by_type(corrections, "customer_attribute_mismatch")[0]
    assert erp_get(env, "customer", name.erp_id or "").json()["companyName"] == name.desired_value
    paid = by_type(corrections, "invoice_status_mismatch")[0]
    assert erp_get(env, "invoice", paid.erp_id or "").json()["status"]["id"] == "B"
    created = by_type(corrections, "invoice_missing_in_erp")[0]
    assert erp_get(env, "invoice", f"eid:{created.external_id}").status_code == 200

    # a second apply writes nothing; a re-plan finds everything in place or already done
    again = apply_plan(env.ledger, env.client, env.policy)
    assert again.applied == again.already_landed == again.requests == 0
    assert write_log_count(env.home) - before == len(to_apply)
    counts = env.ledger.store_plan(Planner(env.client, env.policy).plan(corrections), "replan")
    assert counts["kept"] == len(to_apply) and APPLY not in counts
    assert apply_plan(env.ledger, env.client, env.policy).requests == 0
    assert write_log_count(env.home) - before == len(to_apply)

    # the ledger has one attempt per applied correction, with before/after and the approver
    rows = env.ledger.con.execute(
        "select correction_id, result, approver, before, after, erp_response "
        "from writeback_ledger.attempts"
    ).fetchall()
    assert len(rows) == len(to_apply) and {r[1] for r in rows} == {"applied"}
    assert all(r[2].startswith("policy:auto@") for r in rows)
    attempt = next(r for r in rows if r[0] == name.correction_id)
    assert json.loads(attempt[3]) == {"companyName": name.current_value}
    assert json.loads(attempt[4]) == {"companyName": name.desired_value}
    assert json.loads(attempt[5])["status"] == 204
    assert TOKEN not in str(
        env.ledger.con.execute("select * from writeback_ledger.attempts").fetchall()
    )


def test_refusals_write_nothing(env: Env) -> None:
    corrections = truth_corrections(env.home, closed=None)
    name = by_type(corrections, "customer_attribute_mismatch")[0]
    closed_amount = next(
        c
        for c in by_type(corrections, "invoice_amount_mismatch")
        if c.correction_id not in {x.correction_id for x in truth_corrections(env.home)}
    )
    open_amount = by_type(truth_corrections(env.home, closed=False), "invoice_amount_mismatch")[0]
    # a field outside the policy, an amount over the hard limit, a type the policy never writes
    outside = dataclasses.replace(
        name,
        correction_id="c-field",
        field="custentity_cl_region",
        record_field="custentity_cl_region",
    )
    too_big = dataclasses.replace(
        open_amount, correction_id="c-big", amount_delta_usd=Decimal("250000.01")
    )
    policy = dataclasses.replace(
        env.policy,
        corrections={**env.policy.corrections, "customer_attribute_mismatch": "never"},
    )
    never = dataclasses.replace(name, correction_id="c-never")
    items = {i.correction_id: i for i in env.plan([outside, too_big, closed_amount])}
    items.update({i.correction_id: i for i in Planner(env.client, policy).plan([never])})
    env.ledger.store_plan([items["c-never"]], "t")

    assert items["c-field"].decision == REFUSED
    assert "custentity_cl_region" in items["c-field"].reason and "policy" in items["c-field"].reason
    assert items["c-big"].decision == REFUSED and "over the policy limit" in items["c-big"].reason
    assert items["c-never"].decision == REFUSED and "never" in items["c-never"].reason
    closed = items[closed_amount.correction_id]
    assert closed.decision == REFUSED and closed.reason.startswith("closed period")
    # ...with an adjusting document proposed for approval instead
    adjust = items[f"{closed_amount.correction_id}:adjust"]
    assert adjust.decision == APPROVAL and adjust.parent_id == closed_amount.correction_id
    assert adjust.record_type in ("creditmemo", "invoice") and adjust.method == "PUT"
    diff = Decimal(closed_amount.desired_value or "") - Decimal(closed_amount.current_value or "")
    assert Decimal(str(adjust.body["item"]["items"][0]["amount"])) == abs(diff)

    before = write_log_count(env.home)
    result = apply_plan(env.ledger, env.client, env.policy)
    assert result.requests == 0 and write_log_count(env.home) == before
    statuses = env.ledger.statuses()
    assert statuses["c-field"] == statuses["c-big"] == statuses["c-never"] == "refused"
    assert statuses[adjust.correction_id] == "awaiting_approval"


def test_amount_over_auto_limit_waits_for_approval_then_lands(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    payment = by_type(truth_corrections(env.home), "payment_amount_mismatch")[0]
    big = dataclasses.replace(payment, amount_delta_usd=Decimal("5000.01"))
    (item,) = env.plan([big])
    assert item.decision == APPROVAL and "automatic limit" in item.reason
    before = write_log_count(env.home)
    assert apply_plan(env.ledger, env.client, env.policy).requests == 0
    assert write_log_count(env.home) == before

    with pytest.raises(ValueError):
        env.ledger.approve([item.correction_id], None, " ", "run")
    approved, problems = env.ledger.approve([item.correction_id, "nope"], None, "alice", "run")
    assert approved == [item.correction_id] and problems == ["nope: no such correction in the plan"]
    # re-planning the same write keeps the approval; the run records who approved it
    env.ledger.store_plan(Planner(env.client, env.policy).plan([big]), "replan")
    assert env.ledger.statuses()[item.correction_id] == "ready"
    result = apply_plan(env.ledger, env.client, env.policy)
    assert result.applied == 1 and write_log_count(env.home) == before + 1
    row = env.ledger.con.execute(
        "select approver from writeback_ledger.attempts where correction_id = ?",
        [item.correction_id],
    ).fetchone()
    assert row == ("alice",)
    assert Decimal(
        str(erp_get(env, "customerpayment", payment.erp_id or "").json()["payment"])
    ) == (Decimal(payment.desired_value or ""))


def test_record_edited_between_plan_and_apply_is_not_overwritten(env: Env) -> None:
    names = by_type(truth_corrections(env.home), "customer_attribute_mismatch")[:2]
    env.plan(names)
    edited = names[0]
    # someone fixes the name in the ERP by hand, differently, after the plan
    r = httpx.patch(
        f"{env.url}/services/rest/record/v1/customer/{edited.erp_id}",
        headers={"Authorization": f"Bearer {TOKEN}"},
        json={"companyName": "Edited By Hand Ltd"},
    )
    assert r.status_code == 204
    before = write_log_count(env.home)
    result = apply_plan(env.ledger, env.client, env.policy)
    assert result.applied == 1 and result.stale == 1
    assert write_log_count(env.home) == before + 1
    assert erp_get(env, "customer", edited.erp_id or "").json()["companyName"] == (
        "Edited By Hand Ltd"
    )
    assert env.ledger.statuses()[edited.correction_id] == "stale"
    # the next plan sees the new version: the correction is planned again, against it
    (again,) = Planner(env.client, env.policy).plan([edited])
    assert again.decision == APPLY and again.if_match != '"1"'


def test_circuit_breaker_stops_a_run_of_rejections(env: Env) -> None:
    names = by_type(truth_corrections(env.home), "customer_attribute_mismatch")
    assert len(names) >= 8
    # bodies the ERP refuses (a subsidiary that does not exist)
    bad = [
        dataclasses.replace(c, payload={"subsidiary": {"id": "999"}}, field=None) for c in names[:8]
    ]
    policy = dataclasses.replace(
        env.policy, breaker_share=0.5, breaker_min_attempts=3, concurrency=1
    )
    items = env.plan(bad, policy)
    assert {i.decision for i in items} == {APPLY}
    result = apply_plan(env.ledger, env.client, policy)
    assert result.stopped and "circuit breaker" in result.stopped
    assert result.rejected == 3 and result.not_started == 5
    assert write_log_count(env.home) == 0
    statuses = Counter(env.ledger.statuses().values())
    assert statuses == {"rejected": 3, "ready": 5}
    run = env.ledger.con.execute(
        "select status from writeback_ledger.runs where kind = 'apply'"
    ).fetchone()
    assert run == ("stopped",)


def test_every_correction_lands_once_under_faults(env: Env) -> None:
    corrections = truth_corrections(env.home, closed=False)
    items = env.plan(corrections)
    n = sum(1 for i in items if i.decision == APPLY)
    env.app.faults = FaultConfig(rate=0.35, kinds=("429", "503", "drop"), seed=11, retry_after=0)
    before = write_log_count(env.home)
    result = apply_plan(env.ledger, env.client, env.policy)
    env.app.faults = FaultConfig()
    assert result.failed == result.rejected == 0, result.errors
    assert result.applied + result.already_landed == n
    assert result.requests > n  # faults cost retries
    assert write_log_count(env.home) - before == n
    assert set(writes_per_key(env.home).values()) == {1}
    assert apply_plan(env.ledger, env.client, env.policy).requests == 0


def test_lost_answers_are_checked_in_the_erp_not_written_twice(
    sandbox_home: Path, tmp_path: Path
) -> None:
    policy = fast_policy(concurrency=1)
    corrections = truth_corrections(sandbox_home, closed=False)
    with (
        erp_served(sandbox_home, lose_every=2) as (url, _),
        Ledger(tmp_path / "w.duckdb") as ledger,
    ):
        client = client_for(url, policy)
        items = Planner(client, policy).plan(corrections)
        ledger.store_plan(items, "plan")
        n = sum(1 for i in items if i.decision == APPLY)
        before = write_log_count(sandbox_home)
        result = apply_plan(ledger, client, policy)
    assert result.applied == n and result.failed == 0, result.errors
    assert write_log_count(sandbox_home) - before == n
    assert set(writes_per_key(sandbox_home).values()) == {1}
    with Ledger(tmp_path / "w.duckdb") as ledger:
        results = dict(
            ledger.con.execute(
                "select result, count(*) from writeback_ledger.attempts group by result"
            ).fetchall()
        )
    # half the answers were lost: the ERP's state (or a replay of the key) settled each one
    replayed = (
        erp_db(sandbox_home)
        .execute("select count(*) from _write_unapplied where outcome = 'replayed'")
        .fetchone()[0]
    )
    assert results.get("landed_response_lost", 0) + replayed >= n // 2
    assert results.get("landed_response_lost", 0) >= 1


def test_verify_marks_closed_exceptions_and_escalates_open_ones(env: Env) -> None:
    names = by_type(truth_corrections(env.home), "customer_attribute_mismatch")[:3]
    env.plan(names)
    assert apply_plan(env.ledger, env.client, env.policy).applied == 3
    still_open = {names[0].exception_id, "some-other-exception"}
    result = verify(env.ledger, still_open)
    assert result.escalated == [names[0].correction_id]
    assert sorted(result.verified) == sorted(c.correction_id for c in names[1:])
    statuses = env.ledger.statuses()
    assert statuses[names[1].correction_id] == "verified"
    # an escalated one closes on a later verify once the exception is gone
    assert verify(env.ledger, set()).verified == [names[0].correction_id]


def test_policy_field_list_limits_creates(env: Env) -> None:
    created = by_type(truth_corrections(env.home), "customer_missing_in_erp")[0]
    narrow = dataclasses.replace(
        env.policy,
        record_types={
            **env.policy.record_types,
            "customer": RecordRule(frozenset({"create", "update"}), frozenset({"companyName"})),
        },
    )
    (item,) = Planner(env.client, narrow).plan([created])
    assert item.decision == REFUSED and "email" in item.reason
    (ok,) = env.plan([created])
    assert ok.decision == APPLY and ok.method == "PUT" and ok.path and "eid:" in ok.path
    assert apply_plan(env.ledger, env.client, env.policy).applied == 1
    (again,) = Planner(env.client, env.policy).plan([created])
    assert again.decision == SKIP and "already in the ERP" in again.reason


KILLABLE_APPLY = """
import sys
from pathlib import Path
from typing import Any
from reverse_etl.apply import apply_plan
from reverse_etl.ledger import Ledger
from tests.reverse_etl.support import client_for, fast_policy
policy = fast_policy(requests_per_second=12.0, concurrency=2)
with Ledger(Path(sys.argv[1])) as ledger:
    apply_plan(ledger, client_for(sys.argv[2], policy), policy)
"""


def test_kill_9_mid_apply_then_apply_again_lands_each_once(
    sandbox_home: Path, tmp_path: Path
) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    policy = fast_policy()
    warehouse = tmp_path / "w.duckdb"
    corrections = truth_corrections(sandbox_home, closed=False)
    with erp_served(sandbox_home) as (url, _):
        client = client_for(url, policy)
        with Ledger(warehouse) as ledger:
            items = Planner(client, policy).plan(corrections)
            ledger.store_plan(items, "plan")
        n = sum(1 for i in items if i.decision == APPLY)
        before = write_log_count(sandbox_home)
        proc = subprocess.Popen(
            [sys.executable, "-c", KILLABLE_APPLY, str(warehouse), url],
            cwd=Path(__file__).resolve().parents[2],
        )
        deadline = time.monotonic() + 60
        while write_log_count(sandbox_home) - before < 6 and time.monotonic() < deadline:
            assert proc.poll() is None, "apply ended before it could be killed"
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        landed_at_kill = write_log_count(sandbox_home) - before
        assert 6 <= landed_at_kill < n

        with Ledger(warehouse) as ledger:
            result = apply_plan(ledger, client, policy)
            statuses = Counter(ledger.statuses().values())
        assert result.failed == result.rejected == 0, result.errors
        assert write_log_count(sandbox_home) - before == n
        assert set(writes_per_key(sandbox_home).values()) == {1}
        assert statuses["applied"] == n and statuses.get("in_flight", 0) == 0


class _NoETag:
    """NetSuite itself sends no ETag: strip it, so the version falls back to lastModifiedDate."""

    def __init__(self, app: SandboxMiddleware) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        async def strip(message: Any) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [(k, v) for k, v in message["headers"] if k != b"etag"]
            await send(message)

        await self.app(scope, receive, strip)


@pytest.mark.parametrize("batch", [False, True], ids=["per-record", "batched"])
def test_without_etag_the_modification_time_guards_the_write(
    sandbox_home: Path, tmp_path: Path, batch: bool
) -> None:
    """Per record, the plan keeps `lastModifiedDate` and apply compares it; batched, apply
    compares the values the plan read, in its GET right before the write."""
    from sandbox.erp import create_app
    from sandbox.http_common import wrap
    from sandbox.schema import SandboxPaths
    from sandbox.testing import serve

    policy = fast_policy()
    names = by_type(truth_corrections(sandbox_home), "customer_attribute_mismatch")[:2]
    app = _NoETag(wrap(create_app(SandboxPaths.under(sandbox_home)), system="erp", token=TOKEN))
    with serve(app) as url, Ledger(tmp_path / "w.duckdb") as ledger:
        client = client_for(str(url), policy)
        items = Planner(client, policy, batch_reads=batch).plan(names)
        prefix = "unchanged:" if batch else "lastModifiedDate="
        assert all(i.if_match and i.if_match.startswith(prefix) for i in items)
        ledger.store_plan(items, "plan")
        edited = names[0]
        r = httpx.patch(
            f"{url}/services/rest/record/v1/customer/{edited.erp_id}",
            headers={"Authorization": f"Bearer {TOKEN}"},
            json={"companyName": "Edited By Hand Ltd"},
        )
        assert r.status_code == 204
        before = write_log_count(sandbox_home)
        result = apply_plan(ledger, client, policy)
        assert (result.applied, result.stale) == (1, 1)
        assert write_log_count(sandbox_home) == before + 1
        assert ledger.statuses()[edited.correction_id] == "stale"
        assert (
            erp_db(sandbox_home)
            .execute("select companyname from customer where id = ?", (int(edited.erp_id or 0),))
            .fetchone()[0]
            == "Edited By Hand Ltd"
        )
