"""Exceptions as tracked work: list them with their history, assign owners, accept with a reason.

The actions are appended to `recon_work.exception_actions` by a dbt operation (so they work on
every warehouse dbt runs on), then `recon_exception_history` is rebuilt so the change shows at
once (docs/exceptions.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from closeloop.close import dbt_failure, default_actor
from closeloop.settings import Settings
from transform import DbtOutcome, run_dbt

#: What `closeloop exceptions list` shows (recon_exception_history's columns).
LIST_COLUMNS = (
    "exception_id",
    "exception_type",
    "status",
    "severity",
    "currency_code",
    "amount_delta_usd",
    "age_days",
    "owner",
    "first_seen_at",
    "last_seen_at",
    "accepted_by",
    "accepted_reason",
    "correction_status",
)

STATUSES = (
    "open",
    "planned",
    "awaiting_approval",
    "applied",
    "verified_closed",
    "escalated",
    "accepted",
    "closed",
)


class ExceptionWorkError(RuntimeError):
    """An action that was refused (nothing recorded) or a history that is not built."""


@dataclass(frozen=True)
class ActionOutcome:
    """What an action recorded."""

    action: str
    ids: tuple[str, ...]
    actor: str


def record_action(
    settings: Settings,
    ids: list[str],
    action: str,
    *,
    actor: str | None = None,
    owner: str = "",
    reason: str = "",
    target_path: Path | None = None,
) -> ActionOutcome:
    """Append `action` (assign, accept or reopen) for each id, then rebuild the history.

    Raises:
        ExceptionWorkError: no ids, an unknown id, a missing owner or reason, or no history
            built yet; nothing is recorded then.
    """
    who = default_actor(actor)
    args = {"ids": ids, "action": action, "actor": who, "owner": owner, "reason": reason}
    outcome = run_dbt(
        ["run-operation", "record_exception_action", "--args", json.dumps(args)],
        settings,
        target_path=target_path,
    )
    if not outcome.success:
        raise ExceptionWorkError(dbt_failure(outcome))
    rebuilt = refresh_history(settings, target_path=target_path)
    if not rebuilt.success:
        raise ExceptionWorkError(
            "recorded, but rebuilding recon_exception_history failed: " + dbt_failure(rebuilt)
        )
    return ActionOutcome(action, tuple(ids), who)


def refresh_history(settings: Settings, *, target_path: Path | None = None) -> DbtOutcome:
    """Rebuild `recon_exception_history` (and `correction_evidence`, its view over the ledger)
    from the reconciliation as built and the ledger as it is now: after an action, or after
    write-back's verify marked its corrections verified or escalated."""
    return run_dbt(
        ["run", "--select", "recon_exception_history", "correction_evidence"],
        settings,
        target_path=target_path,
    )


def list_exceptions(
    settings: Settings,
    *,
    status: str | None = None,
    exception_type: str | None = None,
    owner: str | None = None,
    include_closed: bool = False,
    limit: int = 50,
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The exceptions of the history (open ones unless `include_closed` or a status asks), oldest
    first, and the count of every exception by status.

    Raises:
        ExceptionWorkError: recon_exception_history is not built yet.
    """
    from reverse_etl.warehouse import Warehouse

    with Warehouse.connect(settings) as wh:
        table = wh.find_model("recon_exception_history")
        if table is None:
            raise ExceptionWorkError(
                "recon_exception_history is not built: run `closeloop run` (or `closeloop "
                "transform build`) first"
            )
        where, params = [], []
        if status:
            where.append("status = ?")
            params.append(status)
        elif not include_closed:
            where.append("status not in ('closed', 'verified_closed', 'accepted')")
        if exception_type:
            where.append("exception_type = ?")
            params.append(exception_type)
        if owner:
            where.append("owner = ?")
            params.append(owner)
        sql = f"select {', '.join(LIST_COLUMNS)} from {table}"
        if where:
            sql += " where " + " and ".join(where)
        sql += f" order by first_seen_at, exception_id limit {int(limit)}"
        rows = wh.records(sql, params)
        counts = {
            str(s): int(n)
            for s, n in wh.query(f"select status, count(*) from {table} group by status")
        }
    return rows, counts
