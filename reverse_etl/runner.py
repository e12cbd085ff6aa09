"""Entry points used by the CLI and orchestration: each opens the ledger, runs one step, closes."""

from __future__ import annotations

from typing import Any

from closeloop.settings import SOURCE_ENV, Settings
from reverse_etl.apply import ApplyResult, apply_plan
from reverse_etl.client import RecordClient, RetryPolicy
from reverse_etl.corrections import Correction, read_corrections
from reverse_etl.ledger import Ledger
from reverse_etl.plan import PlanItem, Planner
from reverse_etl.policy import Policy
from reverse_etl.verify import VerifyResult, open_exceptions_by_type, verify
from reverse_etl.warehouse import Warehouse


def make_client(settings: Settings, policy: Policy) -> RecordClient:
    """The ERP client configured from the settings (URL, token, CA) and the policy (rates).

    Raises:
        ValueError: when no ERP base URL is configured (there is no default ERP to write to).
    """
    if not settings.erp.base_url:
        raise ValueError(
            f"no ERP to write to: set {SOURCE_ENV['erp'][0]} "
            "(or run the demo path, which serves the sandbox)"
        )
    return RecordClient(
        base_url=settings.erp.base_url,
        token=str(settings.erp.token),
        rate_per_second=policy.requests_per_second,
        retry=RetryPolicy(policy.max_attempts, policy.backoff_seconds, policy.max_backoff_seconds),
        verify=str(settings.ca_bundle) if settings.ca_bundle else True,
    )


def run_plan(
    settings: Settings,
    policy: Policy,
    corrections: list[Correction] | None = None,
    actor: str | None = None,
) -> tuple[str, list[PlanItem], dict[str, int]]:
    """Plan the corrections (from `erp_corrections` unless given) and store the plan.

    Returns:
        (run id, plan items, counts by decision plus `kept` and `erp_requests`: the requests
        the plan sent to the ERP, retries included).
    """
    with Ledger.open(settings) as ledger, make_client(settings, policy) as client:
        if corrections is None:
            corrections = read_corrections(ledger.wh)
        run_id = ledger.start_run("plan", actor, policy.sha)
        done = {
            cid for cid, s in ledger.statuses().items() if s in ("applied", "verified", "escalated")
        }
        # what landed is not looked at again: a re-plan never re-proposes a write
        todo = [c for c in corrections if c.correction_id not in done]
        items = Planner(client, policy).plan(todo)
        counts = ledger.store_plan(items, run_id)
        counts["kept"] = counts.get("kept", 0) + len(corrections) - len(todo)
        counts["erp_requests"] = client.requests_sent
        ledger.finish_run(run_id, "done", counts)
        return run_id, items, counts


def run_approve(
    settings: Settings,
    policy: Policy,
    approver: str,
    ids: list[str] | None = None,
    exception_type: str | None = None,
) -> tuple[list[str], list[str]]:
    """Approve corrections by id or by exception type; returns (approved, problems)."""
    with Ledger.open(settings) as ledger:
        run_id = ledger.start_run("approve", approver, policy.sha)
        approved, problems = ledger.approve(ids, exception_type, approver, run_id)
        ledger.finish_run(run_id, "done", {"approved": len(approved), "problems": len(problems)})
        return approved, problems


def run_apply(
    settings: Settings, policy: Policy, actor: str | None = None, max_rows: int | None = None
) -> ApplyResult:
    """Apply the stored plan's ready corrections."""
    with Ledger.open(settings) as ledger, make_client(settings, policy) as client:
        return apply_plan(ledger, client, policy, actor=actor, max_rows=max_rows)


def run_verify(settings: Settings, policy: Policy, actor: str | None = None) -> VerifyResult:
    """Verify applied corrections against the freshly built `recon_exceptions`."""
    with Ledger.open(settings) as ledger:
        run_id = ledger.start_run("verify", actor, policy.sha)
        result = verify(ledger)
        summary: dict[str, Any] = {
            "verified": len(result.verified),
            "escalated": len(result.escalated),
            "awaiting_approval": result.awaiting_approval,
        }
        ledger.finish_run(run_id, "done", summary)
        return result


def exceptions_by_type(settings: Settings) -> dict[str, int]:
    """What the reconciliation found (the input of a plan): open exceptions by type."""
    with Warehouse.connect(settings) as wh:
        return open_exceptions_by_type(wh)


def ledger_summary(settings: Settings) -> dict[str, int]:
    """Corrections in the ledger by status."""
    with Ledger.open(settings) as ledger:
        return ledger.summary()


def needs_reread(settings: Settings) -> bool:
    """Whether verify has anything to look at: corrections applied (or escalated before),
    whose effect must first be read back from the ERP and rebuilt."""
    summary = ledger_summary(settings)
    return bool(summary.get("applied", 0) or summary.get("escalated", 0))
