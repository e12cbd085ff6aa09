"""The governed ERP write-back as assets downstream of `erp_corrections`.

plan -> apply -> reread (the ERP again, as ingestion reads it) -> rebuild (the models between
the raw ERP tables and the corrections, and the items in transit) -> verify (then the exception
history, so each verified correction shows its exception verified_closed). Each step calls
`reverse_etl.runner`, the ingestion layer or the dbt runner; none holds SQL, and the warehouse
is whichever the settings name (DuckDB or Snowflake). The ledger run a step writes carries the
Dagster run id as its actor, and the asset's metadata carries the ledger run id and the query
that lists its rows, so a run and its ledger rows point at each other. Corrections that need
approval show up as a table on the plan asset; `closeloop writeback approve` approves them and
the next materialization of the apply asset (and what is downstream of it) writes and verifies
them.
"""

from collections.abc import Iterator
from typing import Any

import dagster as dg

from closeloop.close import dbt_failure
from closeloop.exceptions import refresh_history
from closeloop.publish import publish_after_build
from ingestion.pipelines import ERP_SWEEP_NOW, IngestError, run_system
from orchestration.defs.dbt.assets import model_key
from orchestration.defs.resources import CloseloopResource
from orchestration.project import DBT_PROJECT_DIR, DBT_TARGET_PATH
from reverse_etl.ledger import rows_query, verify_rows_query
from reverse_etl.plan import PlanItem
from reverse_etl.policy import load_policy
from reverse_etl.runner import (
    exceptions_by_type,
    ledger_summary,
    needs_reread,
    run_apply,
    run_plan,
    run_verify,
)
from reverse_etl.verify import VERIFY_REBUILD
from transform import run_dbt

PLAN_KEY = dg.AssetKey("erp_writeback_plan")
APPLY_KEY = dg.AssetKey("erp_writeback_apply")
REREAD_KEY = dg.AssetKey("erp_writeback_reread")
REBUILD_KEY = dg.AssetKey("erp_writeback_rebuild")
VERIFY_KEY = dg.AssetKey("erp_writeback_verify")
#: The steps that write to the ERP or follow a write (left out of the plan-only jobs).
WRITE_KEYS = (APPLY_KEY, REREAD_KEY, REBUILD_KEY, VERIFY_KEY)
#: Rows of the waiting-for-approval table shown in the UI (the ledger has them all).
WAITING_ROWS_SHOWN = 100
#: What the rebuild step builds (dbt selection): the models between the raw ERP tables and the
#: corrections, and the items in transit, which the re-read settles too (a posting the
#: integration made meanwhile): the reconciliation as it is after the write, all of it.
REBUILD_SELECTION = (VERIFY_REBUILD, "recon_in_transit")
REBUILD_TARGET_PATH = DBT_PROJECT_DIR / DBT_TARGET_PATH / "verify"


def _actor(context: dg.AssetExecutionContext) -> str:
    return f"dagster:{context.run_id}"


def _ledger_link(run_id: str, table: str, column: str) -> dict[str, Any]:
    """The ledger run of this step and the query listing its rows (shown in the UI)."""
    return {
        "ledger_run_id": run_id,
        "ledger_rows": dg.MetadataValue.md(f"```sql\n{rows_query(table, column, run_id)}\n```"),
    }


def _waiting_table(items: list[PlanItem]) -> dg.TableMetadataValue:
    waiting = [i for i in items if i.decision == "approval"][:WAITING_ROWS_SHOWN]
    return dg.MetadataValue.table(
        records=[
            dg.TableRecord(
                {
                    "correction_id": i.correction_id,
                    "exception_type": i.exception_type,
                    "record": f"{i.record_type} {i.erp_id or i.external_id or ''}".strip(),
                    "field": i.field or "",
                    "amount_delta_usd": str(i.amount_delta_usd or ""),
                    "reason": i.reason,
                }
            )
            for i in waiting
        ],
        schema=dg.TableSchema(
            columns=[
                dg.TableColumn(name)
                for name in (
                    "correction_id",
                    "exception_type",
                    "record",
                    "field",
                    "amount_delta_usd",
                    "reason",
                )
            ]
        ),
    )


@dg.asset(
    key=PLAN_KEY,
    deps=[model_key("erp_corrections")],
    group_name="writeback",
    kinds={"python", "netsuite"},
    description="Check each correction against the policy and the live ERP; store the plan "
    "(a dry run: nothing is written).",
)
def erp_writeback_plan(
    context: dg.AssetExecutionContext, closeloop: CloseloopResource
) -> dg.MaterializeResult:
    """Plan the corrections of `erp_corrections`; show what waits for approval."""
    settings = closeloop.settings()
    found = exceptions_by_type(settings)
    run_id, items, counts = run_plan(settings, load_policy(), actor=_actor(context))
    waiting = counts.get("approval", 0)
    if waiting:
        context.log.warning(
            "%d correction(s) need approval: `closeloop writeback approve <id>...` "
            "(or --all-of-type <type>), then materialize erp_writeback_apply",
            waiting,
        )
    return dg.MaterializeResult(
        metadata={
            "rows_planned": len(items),
            "rows_to_apply": counts.get("apply", 0),
            "rows_skipped": counts.get("skip", 0),
            "rows_refused": counts.get("refused", 0),
            "rows_needing_approval": waiting,
            "rows_already_landed": counts.get("kept", 0),
            "open_exceptions": sum(found.values()),
            "open_exceptions_by_type": found,
            "awaiting_approval": _waiting_table(items),
            "approve_with": dg.MetadataValue.md(
                "`closeloop writeback approve <correction_id>...` or "
                "`closeloop writeback approve --all-of-type <exception_type>`"
            ),
            **_ledger_link(run_id, "items", "plan_run_id"),
        }
    )


@dg.asset(
    key=APPLY_KEY,
    deps=[PLAN_KEY],
    group_name="writeback",
    kinds={"python", "netsuite"},
    description="Write the ready and approved corrections to the ERP, each exactly once.",
    check_specs=[
        dg.AssetCheckSpec(
            "no_rejected_writes",
            asset=APPLY_KEY,
            description="The ERP accepted every write this run sent (none rejected or failed).",
        )
    ],
)
def erp_writeback_apply(
    context: dg.AssetExecutionContext, closeloop: CloseloopResource
) -> Iterator[Any]:
    """Apply the stored plan; what approvals arrived since the plan is written too."""
    settings = closeloop.settings()
    result = run_apply(settings, load_policy(), actor=_actor(context))
    figures = result.as_dict()
    waiting = ledger_summary(settings).get("awaiting_approval", 0)
    yield dg.MaterializeResult(
        metadata={
            "rows_applied": result.applied,
            "rows_already_landed": result.already_landed,
            "rows_stale": result.stale,
            "rows_rejected": result.rejected,
            "rows_failed": result.failed,
            "rows_deferred": result.deferred,
            "rows_waiting_for_approval": waiting,
            "requests": result.requests,
            "seconds": figures["seconds"],
            "stopped": result.stopped or "",
            "errors": dg.MetadataValue.md("\n".join(f"- {e}" for e in result.errors[:50]) or "-"),
            **_ledger_link(result.run_id, "attempts", "run_id"),
        }
    )
    bad = result.rejected + result.failed
    yield dg.AssetCheckResult(
        check_name="no_rejected_writes",
        passed=bad == 0 and not result.stopped,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"rejected": result.rejected, "failed": result.failed},
        description=result.stopped or None,
    )
    if result.stopped:
        raise dg.Failure(description=f"write-back stopped: {result.stopped}", allow_retries=False)


@dg.asset(
    key=REREAD_KEY,
    deps=[APPLY_KEY],
    group_name="writeback",
    kinds={"python", "netsuite"},
    description="Read the ERP again after the write (incremental, with the key sweep due now "
    "so the deletes just written are seen); nothing when no correction awaits verification.",
)
def erp_writeback_reread(
    context: dg.AssetExecutionContext, closeloop: CloseloopResource
) -> dg.MaterializeResult:
    """The ERP as it is after the write, landed in raw_erp."""
    settings = closeloop.settings()
    if not needs_reread(settings):
        context.log.info("no correction applied: the ERP is not read again")
        return dg.MaterializeResult(metadata={"erp_rows_reread": 0, "skipped": True})
    try:
        # a role without Deleted Records sees the deletes just written only through the key
        # sweep: make it due now, whatever its schedule
        summary = run_system("erp", settings, source_options=ERP_SWEEP_NOW)
    except IngestError as exc:
        raise dg.Failure(description=f"cannot re-read the ERP to verify: {exc}") from None
    return dg.MaterializeResult(metadata={"erp_rows_reread": summary.rows_loaded, "skipped": False})


@dg.asset(
    key=REBUILD_KEY,
    deps=[REREAD_KEY],
    group_name="writeback",
    kinds={"dbt"},
    description="Rebuild the models between the raw ERP tables and the corrections, and the "
    f"items in transit (`dbt run --select {' '.join(REBUILD_SELECTION)}`), so verify sees the "
    "reconciliation after the write.",
)
def erp_writeback_rebuild(
    context: dg.AssetExecutionContext, closeloop: CloseloopResource
) -> dg.MaterializeResult:
    """recon_exceptions and recon_in_transit as they are after the write."""
    settings = closeloop.settings()
    if not needs_reread(settings):
        return dg.MaterializeResult(metadata={"models_rebuilt": 0, "skipped": True})
    outcome = run_dbt(
        ["run", "--select", *REBUILD_SELECTION],
        settings,
        target_path=REBUILD_TARGET_PATH,
    )
    if not outcome.success:
        first = (outcome.failures or [str(outcome.exception or "dbt failed")])[0]
        raise dg.Failure(
            description=f"rebuilding the reconciliation after the write failed: {first}",
            metadata={"failures": dg.MetadataValue.md("\n".join(outcome.failures[:20]) or "-")},
        )
    context.log.info("rebuilt %d models", len(outcome.statuses))
    return dg.MaterializeResult(
        metadata={"models_rebuilt": len(outcome.statuses), "skipped": False}
    )


@dg.asset(
    key=VERIFY_KEY,
    deps=[REBUILD_KEY],
    group_name="writeback",
    kinds={"python", "netsuite"},
    description="Mark each applied correction verified (its exception is gone from the rebuilt "
    "reconciliation) or escalated (still open).",
    check_specs=[
        dg.AssetCheckSpec(
            "corrections_verified",
            asset=VERIFY_KEY,
            description="Every correction written to the ERP closed its exception.",
        )
    ],
)
def erp_writeback_verify(
    context: dg.AssetExecutionContext, closeloop: CloseloopResource
) -> Iterator[Any]:
    """Close the loop: the corrected exceptions must disappear from `recon_exceptions`."""
    settings = closeloop.settings()
    rebuilt = needs_reread(settings)  # what erp_writeback_rebuild rebuilt for
    result = run_verify(settings, load_policy(), actor=_actor(context))
    if rebuilt:
        # the history after the verdicts: each verified correction's exception is verified_closed
        history = refresh_history(settings, target_path=REBUILD_TARGET_PATH)
        if not history.success:
            raise dg.Failure(
                description="rebuilding recon_exception_history after verify failed: "
                + dbt_failure(history)
            )
        publish_after_build(settings)  # BI's read-only copy: the rebuilt, verified reconciliation
    yield dg.MaterializeResult(
        metadata={
            "rows_verified": len(result.verified),
            "rows_escalated": len(result.escalated),
            "rows_waiting_for_approval": result.awaiting_approval,
            "escalated": dg.MetadataValue.md(
                "\n".join(f"- {cid}" for cid in result.escalated[:50]) or "-"
            ),
            "ledger_rows": dg.MetadataValue.md(f"```sql\n{verify_rows_query()}\n```"),
        }
    )
    yield dg.AssetCheckResult(
        check_name="corrections_verified",
        passed=not result.escalated,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"verified": len(result.verified), "escalated": len(result.escalated)},
    )


WRITEBACK_ASSETS = [
    erp_writeback_plan,
    erp_writeback_apply,
    erp_writeback_reread,
    erp_writeback_rebuild,
    erp_writeback_verify,
]
