"""Apply: write the approved and auto-approved plan items to the ERP, exactly once each.

Exactly once rests on three things: the ledger records an attempt *before* its request goes
out; a correction with an earlier attempt (a crash, a lost answer, an outage) is first checked
against the ERP's live state and is not sent again when it already landed; and every request
carries an idempotency key derived from the correction and its target, so a repeat that does
get through is a replay, not a second write. Compare-and-set (`If-Match` with the version seen
at plan time) makes a record edited since the plan come back `stale` instead of overwritten.
An item planned from a batched read (version `unchanged:`, the values the plan read) is read
with one GET right before its write: a record that no longer holds those values is `stale`,
else the write carries that GET's ETag as `If-Match`.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from reverse_etl.client import ErpError, RecordClient, loads
from reverse_etl.ledger import Ledger, checks_from_json
from reverse_etl.plan import (
    MODIFIED_PREFIX,
    PHASES,
    UNCHANGED_PREFIX,
    changed_fields,
    checks_hold,
    get_path,
)
from reverse_etl.policy import Policy

log = logging.getLogger(__name__)


@dataclass
class ApplyResult:
    """What one `apply` run did."""

    run_id: str
    applied: int = 0
    already_landed: int = 0
    stale: int = 0
    rejected: int = 0
    failed: int = 0
    deferred: int = 0
    not_started: int = 0
    accepted: int = 0
    stopped: str | None = None
    requests: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    @property
    def written(self) -> int:
        """Corrections that are now in the ERP thanks to this run."""
        return self.applied + self.already_landed

    def as_dict(self) -> dict[str, Any]:
        """Plain counts (for the ledger, the CLI and Dagster metadata)."""
        return {
            "applied": self.applied,
            "already_landed": self.already_landed,
            "stale": self.stale,
            "rejected": self.rejected,
            "failed": self.failed,
            "deferred": self.deferred,
            "not_started": self.not_started,
            "accepted": self.accepted,
            "stopped": self.stopped,
            "requests": self.requests,
            "seconds": round(self.seconds, 3),
        }


class CircuitBreaker:
    """Trips when the ERP rejects more than a share of the run's writes."""

    def __init__(self, share: float, min_attempts: int) -> None:
        self.share = share
        self.min_attempts = min_attempts
        self.attempts = 0
        self.rejected = 0
        self.tripped = False
        self._lock = threading.Lock()

    def record(self, rejected: bool) -> None:
        """Count one finished write."""
        with self._lock:
            self.attempts += 1
            self.rejected += int(rejected)
            if (
                self.attempts >= self.min_attempts
                and self.rejected / self.attempts > self.share
                and not self.tripped
            ):
                self.tripped = True
                log.warning(
                    "circuit breaker: %d of %d writes rejected (limit %.0f%%): stopping the run",
                    self.rejected,
                    self.attempts,
                    self.share * 100,
                )


def _phase(item: dict[str, Any]) -> int:
    path = item.get("path") or ""
    parts = path.split("/")
    written = parts[5] if len(parts) > 5 else item.get("record_type", "")
    return PHASES.get(written, 3)


def apply_plan(
    ledger: Ledger,
    client: RecordClient,
    policy: Policy,
    *,
    actor: str | None = None,
    max_rows: int | None = None,
) -> ApplyResult:
    """Write every ready item of the ledger's plan.

    Args:
        ledger: the warehouse ledger (holds the plan and records every attempt).
        client: the ERP client (its rate limit and retries apply).
        policy: the write-back policy (row limit, circuit breaker, concurrency).
        actor: who runs it (stored with the run).
        max_rows: a lower row limit than the policy's for this run.

    Returns:
        The counts of the run.
    """
    started = time.monotonic()
    sent_before = client.requests_sent
    run_id = ledger.start_run("apply", actor, policy.sha)
    result = ApplyResult(run_id)
    items = ledger.to_apply()
    # an exception accepted after the plan stored its correction as ready is not written; a
    # correction with an attempt already out is still resolved against the ERP (exactly once)
    accepted = ledger.accepted_exceptions()
    if accepted:
        kept = []
        for item in items:
            if (
                item["status"] == "ready"
                and item["exception_id"] in accepted
                and ledger.attempts_of(item["correction_id"]) == 0
            ):
                ledger.skip_accepted(item["correction_id"])
                result.accepted += 1
            else:
                kept.append(item)
        items = kept
    # resolve what a crash left open first, then customers before the documents that use them
    items.sort(key=lambda i: (i["status"] == "ready", _phase(i), i["correction_id"]))
    limit = min(policy.max_rows_per_run, max_rows or policy.max_rows_per_run)
    result.deferred = max(0, len(items) - limit)
    items = items[:limit]
    breaker = CircuitBreaker(policy.breaker_share, policy.breaker_min_attempts)
    tally_lock = threading.Lock()

    def count(name: str) -> None:
        with tally_lock:
            setattr(result, name, getattr(result, name) + 1)

    def one(item: dict[str, Any]) -> None:
        if breaker.tripped:
            count("not_started")
            return
        cid = item["correction_id"]
        checks = checks_from_json(item["checks"])

        def landed() -> bool:
            return bool(checks) and checks_hold(client, checks)

        if item["status"] != "ready" or ledger.attempts_of(cid) > 0:
            # An earlier attempt may have landed with its answer lost: ask the ERP first.
            try:
                done = landed()
            except ErpError as exc:
                count("failed")
                result.errors.append(f"{cid}: cannot check the ERP: {exc}")
                return
            ledger.resolve_in_flight(cid, done)
            if done:
                attempt = ledger.begin_attempt(item, run_id, _approver(item, policy))
                ledger.end_attempt(
                    attempt, cid, "already_landed", "applied", None,
                    {"confirmed_by_check": True}, "found in the ERP before retrying",
                )  # fmt: skip
                count("already_landed")
                return
        attempt = ledger.begin_attempt(item, run_id, _approver(item, policy))
        if_match = item["if_match"]
        try:
            if if_match and if_match.startswith(UNCHANGED_PREFIX):
                # planned from a batched read: read the record now, write only if it still
                # holds what the plan read, and only if nothing moved since this read
                if_match = _check_unchanged(
                    client, item["path"], if_match.removeprefix(UNCHANGED_PREFIX)
                )
            elif if_match and if_match.startswith(MODIFIED_PREFIX):
                # no ETag from this ERP: compare the modification time just before writing
                _check_unmodified(client, item["path"], if_match.removeprefix(MODIFIED_PREFIX))
                if_match = None
            resp = client.write(
                item["method"],
                item["path"],
                item["body"],
                idempotency_key=item["idempotency_key"],
                if_match=if_match,
                landed=landed if checks else None,
            )
        except ErpError as exc:
            response = exc.response.summary() if exc.response else {"error": str(exc)}
            if exc.status == 412:
                ledger.end_attempt(
                    attempt, cid, "stale", "stale", 412, response,
                    "the record changed in the ERP since the plan: run plan again",
                )  # fmt: skip
                count("stale")
                breaker.record(rejected=False)
            elif 400 <= exc.status < 500:
                ledger.end_attempt(
                    attempt, cid, "rejected", "rejected", exc.status, response, str(exc)
                )
                count("rejected")
                result.errors.append(f"{cid}: {exc}")
                breaker.record(rejected=True)
            else:
                ledger.end_attempt(
                    attempt, cid, "failed", "failed", exc.status or None, response, str(exc)
                )
                count("failed")
                result.errors.append(f"{cid}: {exc}")
                breaker.record(rejected=True)
            return
        outcome = "landed_response_lost" if resp.confirmed_by_check else "applied"
        ledger.end_attempt(attempt, cid, outcome, "applied", resp.status, resp.summary())
        count("applied")
        breaker.record(rejected=False)

    for phase in sorted({_phase(i) for i in items}):
        batch = [i for i in items if _phase(i) == phase]
        if breaker.tripped:
            result.not_started += len(batch)
            continue
        with ThreadPoolExecutor(max_workers=policy.concurrency) as pool:
            list(pool.map(one, batch))
    if breaker.tripped:
        result.stopped = (
            f"circuit breaker: {breaker.rejected} of {breaker.attempts} writes rejected "
            f"(more than {policy.breaker_share:.0%})"
        )
    result.requests = client.requests_sent - sent_before
    result.seconds = time.monotonic() - started
    ledger.finish_run(run_id, "stopped" if result.stopped else "done", result.as_dict())
    return result


def _check_unmodified(client: RecordClient, path: str, modified: str) -> None:
    """Raise a 412 when the record's `lastModifiedDate` moved since the plan."""
    parts = path.split("/")  # /services/rest/record/v1/<type>/<id>[/!transform/...]
    resp = client.get(parts[5], parts[6])
    now = resp.body.get("lastModifiedDate") if resp and isinstance(resp.body, dict) else None
    if now != modified:
        raise ErpError(412, f"the record changed since the plan ({modified} -> {now})", None)


def _check_unchanged(client: RecordClient, path: str, planned: str) -> str | None:
    """Read the record with one GET; raise a 412 when it is gone or a field the plan read no
    longer holds its planned value. Returns the version (ETag) to send as `If-Match`, so the
    write lands only on the record this read saw (None when the ERP sends no ETag)."""
    parts = path.split("/")  # /services/rest/record/v1/<type>/<id>[/!transform/...]
    resp = client.get(parts[5], parts[6])
    if resp is None or not isinstance(resp.body, dict):
        raise ErpError(412, "the record is gone since the plan", None)
    expected = loads(planned)
    moved = changed_fields(resp.body, expected)
    if moved:
        changes = ", ".join(f"{p} {expected[p]!s} -> {get_path(resp.body, p)!s}" for p in moved)
        raise ErpError(412, f"the record changed since the plan ({changes})", None)
    return resp.etag


def _approver(item: dict[str, Any], policy: Policy) -> str:
    return str(item.get("approved_by") or f"policy:auto@{policy.sha}")
