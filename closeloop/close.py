"""Period close: freeze a month's KPIs and open exceptions as reported; reopen only on purpose.

`close_period` records the close in the period log (a dbt operation, so it runs on every
warehouse dbt runs on) and builds the frozen tables from what the warehouse holds now; the
models then show later builds' restatements beside the as-reported figures (docs/close.md).
"""

from __future__ import annotations

import getpass
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from closeloop.settings import Settings
from transform import DbtOutcome, run_dbt

#: What `closeloop close` builds after recording the close: the frozen tables and the views of them.
CLOSE_MODELS = (
    "int_period_closes",
    "frozen_kpi_values",
    "frozen_documents",
    "recon_exceptions_as_reported",
    "kpi_monthly_as_reported",
    "kpi_monthly_restated",
    "kpi_restatement_documents",
)

PERIOD_PATTERN = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


class CloseError(RuntimeError):
    """A close or reopen that was refused (nothing was recorded) or did not finish."""


@dataclass(frozen=True)
class CloseOutcome:
    """What a close or reopen recorded and built."""

    period: str
    action: str
    actor: str
    models_built: int


def known_as_of_var(instant: str) -> str:
    """The dbt var `known_as_of` for an ISO 8601 instant: in UTC, without an offset
    (`2026-10-31T23:00:00+01:00` -> `2026-10-31 22:00:00`); a naive instant is taken as UTC.

    Raises:
        ValueError: the text is not an ISO 8601 date or instant.
    """
    text = instant.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed.isoformat(sep=" ")


def default_actor(given: str | None = None) -> str:
    """Who acts: `given` (the CLI's --by or CLOSELOOP_APPROVER), else the OS user."""
    if given and given.strip():
        return given.strip()
    return getpass.getuser()


def dbt_failure(outcome: DbtOutcome) -> str:
    """The reason a dbt invocation failed, as dbt said it (one line when it can)."""
    if outcome.exception is not None:
        return str(outcome.exception).strip()
    for line in outcome.errors:
        # dbt's compilation errors carry the reason on the line after their title
        reason = [part.strip() for part in line.splitlines()[1:] if part.strip()]
        if reason and not reason[0].startswith(">"):
            return reason[0]
    return "; ".join(outcome.errors or outcome.failures) or "dbt reported a failure (see the log)"


def _record(
    settings: Settings, period: str, action: str, actor: str, reason: str, target_path: Path | None
) -> None:
    if not PERIOD_PATTERN.match(period):
        raise CloseError(f"period must be YYYY-MM, got {period!r}")
    args = {"period": period, "action": action, "actor": actor, "reason": reason}
    outcome = run_dbt(
        ["run-operation", "record_period_event", "--args", json.dumps(args)],
        settings,
        target_path=target_path,
    )
    if not outcome.success:
        raise CloseError(dbt_failure(outcome))


def _build(settings: Settings, target_path: Path | None) -> int:
    outcome = run_dbt(
        ["build", "--select", " ".join(CLOSE_MODELS)], settings, target_path=target_path
    )
    if not outcome.success:
        raise CloseError(
            "recorded, but freezing the figures failed: "
            + dbt_failure(outcome)
            + " (fix it and run `closeloop transform build -s frozen_kpi_values+`)"
        )
    return sum(1 for uid in outcome.statuses if uid.startswith("model."))


def close_period(
    settings: Settings, period: str, actor: str | None = None, target_path: Path | None = None
) -> CloseOutcome:
    """Close `period` (YYYY-MM): record it and freeze its KPIs, documents and open exceptions.

    `target_path` is dbt's artifacts folder (default the project's).

    Raises:
        CloseError: the period is malformed, already closed, not over at the as-of instant,
            or not built yet (nothing is recorded then); or the freeze build failed.
    """
    who = default_actor(actor)
    _record(settings, period, "close", who, "", target_path)
    return CloseOutcome(period, "close", who, _build(settings, target_path))


def reopen_period(
    settings: Settings,
    period: str,
    reason: str,
    actor: str | None = None,
    target_path: Path | None = None,
) -> CloseOutcome:
    """Reopen a closed `period`, with a reason; its frozen figures stay as the record of the close.

    Raises:
        CloseError: the period is malformed or not closed, or the reason is empty.
    """
    if not reason.strip():
        raise CloseError(f"reopening {period} needs a reason (--reason)")
    who = default_actor(actor)
    _record(settings, period, "reopen", who, reason.strip(), target_path)
    return CloseOutcome(period, "reopen", who, _build(settings, target_path))
