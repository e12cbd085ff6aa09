"""`closeloop run`: the whole loop once, in-process, through the Dagster definitions.

Materializes every asset and check in one in-process run against the sources the settings name,
and summarizes what happened from the run's own events. Serving the sandbox when no source is
configured is the CLI's demo path (`closeloop/demo.py`), not orchestration's.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import dagster as dg

from closeloop.settings import SOURCE_ENV as SOURCE_ENV  # importable here, as before
from closeloop.settings import Settings, set_dagster_home
from orchestration.project import ensure_manifest, prepare_dagster_home
from transform import patched_env as patched_environ  # noqa: F401  (one helper, old name kept)

log = logging.getLogger(__name__)

#: The asset check that counts `ops.dq_issues` (orchestration/defs/recon/checks.py).
DQ_CHECK_NAME = "no_data_quality_issues"


@dataclass
class LoopSummary:
    """What one run of the loop did."""

    run_id: str
    success: bool
    rows_landed: dict[str, int] = field(default_factory=dict)
    rows_rejected: int = 0
    #: dbt models and seeds materialized
    models_built: int = 0
    checks_passed: int = 0
    checks_failed: int = 0
    checks_warned: int = 0
    exceptions_by_type: dict[str, int] = field(default_factory=dict)
    corrections: dict[str, int] = field(default_factory=dict)
    stage_seconds: dict[str, float] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    #: what a source would not show (a missing optional permission), said once each
    source_warnings: list[str] = field(default_factory=list)
    #: rows kept but not converted or linked (`ops.dq_issues`), by issue type
    data_quality_issues: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Plain values (the CLI's JSON output and the benchmark)."""
        return dict(self.__dict__)


def persistent_instance(settings: Settings) -> dg.DagsterInstance:
    """Dagster's instance under `CLOSELOOP_HOME` (so `closeloop ui` shows the run afterwards)."""
    home = prepare_dagster_home(settings)
    set_dagster_home(home)
    return dg.DagsterInstance.get()


def _value(metadata: dict[str, Any], name: str) -> Any:
    entry = metadata.get(name)
    return getattr(entry, "value", entry)


def summarize(result: dg.ExecuteInProcessResult) -> LoopSummary:
    """Figures of a run from its events (materialization metadata, check results, step times)."""
    summary = LoopSummary(run_id=result.run_id, success=result.success)
    landed: Counter[str] = Counter()
    for event in result.get_asset_materialization_events():
        key = event.asset_key
        if key is None:
            continue
        metadata = dict(event.materialization.metadata) if event.materialization else {}
        head = key.path[0]
        if head.startswith("raw_"):
            landed[head] += int(_value(metadata, "rows_loaded") or 0)
            for warning in _value(metadata, "source_warnings") or []:
                if warning not in summary.source_warnings:
                    summary.source_warnings.append(str(warning))
            summary.rows_rejected += int(_value(metadata, "rows_rejected") or 0)
        elif key.path[-1] == "erp_writeback_plan":
            summary.exceptions_by_type = dict(_value(metadata, "open_exceptions_by_type") or {})
            summary.corrections["planned"] = int(_value(metadata, "rows_planned") or 0)
            summary.corrections["needing_approval"] = int(
                _value(metadata, "rows_needing_approval") or 0
            )
        elif key.path[-1] == "erp_writeback_apply":
            summary.corrections["applied"] = int(_value(metadata, "rows_applied") or 0)
            summary.corrections["rejected"] = int(_value(metadata, "rows_rejected") or 0)
        elif key.path[-1] == "erp_writeback_verify":
            summary.corrections["verified"] = int(_value(metadata, "rows_verified") or 0)
            summary.corrections["escalated"] = int(_value(metadata, "rows_escalated") or 0)
            summary.corrections["waiting_for_approval"] = int(
                _value(metadata, "rows_waiting_for_approval") or 0
            )
        elif not key.path[-1].startswith("erp_writeback"):
            summary.models_built += 1
    summary.rows_landed = dict(sorted(landed.items()))
    for evaluation in result.get_asset_check_evaluations():
        if evaluation.check_name == DQ_CHECK_NAME:
            by_type = _value(dict(evaluation.metadata), "by_issue_type") or {}
            summary.data_quality_issues = {str(k): int(v) for k, v in dict(by_type).items()}
        if evaluation.passed:
            summary.checks_passed += 1
        elif evaluation.severity == dg.AssetCheckSeverity.WARN:
            summary.checks_warned += 1
        else:
            summary.checks_failed += 1
            summary.failures.append(
                f"check {evaluation.asset_key.to_user_string()}:{evaluation.check_name}"
            )
    for event in result.all_events:
        if event.event_type_value == "STEP_SUCCESS" and event.step_key:
            duration = getattr(event.event_specific_data, "duration_ms", None) or 0.0
            summary.stage_seconds[event.step_key] = round(duration / 1000.0, 3)
        elif event.event_type_value == "STEP_FAILURE" and event.step_key:
            error = getattr(event.event_specific_data, "error", None)
            detail = (error.message if error is not None else event.message) or ""
            summary.failures.append(f"step {event.step_key}: {detail.strip()[:2000]}")
    return summary


#: A step of the run ended: (step key, "success" or "failure", seconds or None).
StepCallback = Callable[[str, str, float | None], None]

_STEP_EVENTS = {dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE}


def _watch_steps(
    instance: dg.DagsterInstance, run_id: str, on_step: StepCallback, stop: threading.Event
) -> None:
    """Call `on_step` as the run's steps end, from the run's event log (read every half second)."""
    cursor: str | None = None
    while True:
        last = stop.is_set()  # one more read after the run ended, then stop
        try:
            found = instance.get_records_for_run(run_id, cursor=cursor, of_type=_STEP_EVENTS)
        except Exception:  # the run may not be stored yet; progress is best effort
            found = None
        if found is not None:
            cursor = found.cursor
            for record in found.records:
                event = record.event_log_entry.dagster_event
                if event is None or not event.step_key:
                    continue
                ms = getattr(event.event_specific_data, "duration_ms", None)
                outcome = (
                    "success" if event.event_type == dg.DagsterEventType.STEP_SUCCESS else "failure"
                )
                on_step(event.step_key, outcome, ms / 1000.0 if ms is not None else None)
        if last:
            return
        stop.wait(0.5)


def run_loop(
    settings: Settings,
    instance: dg.DagsterInstance | None = None,
    selection: dg.AssetSelection | None = None,
    on_step: StepCallback | None = None,
) -> LoopSummary:
    """Materialize the whole graph once, in this process, against the configured sources.

    The sources must already be reachable (the CLI's demo path, `closeloop.demo.sources_for`,
    serves the sandbox otherwise), and `CLOSELOOP_HOME` and the `SOURCES__*` variables set in
    the environment (the resources read them through `dg.EnvVar` and dlt's config).

    Args:
        settings: closeloop settings.
        instance: Dagster instance (default: the persistent one under `CLOSELOOP_HOME`).
        selection: a part of the graph (default: every asset and check).
        on_step: called as each step ends (progress for the CLI), from a watching thread.

    Returns:
        The run's summary.
    """
    ensure_manifest(settings)
    from orchestration.definitions import defs

    instance = instance or persistent_instance(settings)
    job = defs.resolve_implicit_global_asset_job_def()
    run_id = str(uuid.uuid4())
    stop = threading.Event()
    watcher = None
    if on_step is not None:
        watcher = threading.Thread(
            target=_watch_steps, args=(instance, run_id, on_step, stop), daemon=True
        )
        watcher.start()
    try:
        result = job.execute_in_process(
            instance=instance,
            raise_on_error=False,
            run_id=run_id,
            asset_selection=list(selection.resolve(defs.resolve_asset_graph()))
            if selection is not None
            else None,
        )
    finally:
        stop.set()
        if watcher is not None:
            watcher.join(timeout=10)
    return summarize(result)
