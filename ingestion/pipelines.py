"""The ingestion pipelines: one dlt pipeline per source system into `raw_<system>`.

`run_ingest(["crm", "billing", "erp"])` is what `closeloop ingest` and Dagster call. Each system
lands in its own dataset of the one warehouse `closeloop.settings.Settings` names (DuckDB under
`CLOSELOOP_HOME` by default, Snowflake with dlt's standard credentials when
`CLOSELOOP_WAREHOUSE=snowflake`). Source settings come from dlt's config (`SOURCES__<SYSTEM>__*`).

A run first finishes any load package an interrupted run left behind (dlt keeps them on disk with
their state), then extracts; every table merges on its key, so a rerun after `kill -9` converges
to the uninterrupted result.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import dlt
from dlt.common.configuration.exceptions import ConfigFieldMissingException

from closeloop.settings import Settings
from ingestion.edge import QUARANTINE_TABLE, RunStats, SourceWarning, TableStats, bulk_gc
from ingestion.http import RetryPolicy, SourceError

log = logging.getLogger(__name__)

SYSTEMS: tuple[str, ...] = ("crm", "billing", "erp")
#: `source_options` of an ERP re-read that must see deletions just made (a write-back's verify):
#: the key sweep is due now when `deletedrecord` cannot be read (`SOURCES__ERP__KEY_SWEEP`
#: still decides whether it runs at all).
ERP_SWEEP_NOW: Mapping[str, Any] = {"key_sweep_every_hours": 0}
DATASETS = {"crm": "raw_crm", "billing": "raw_billing", "erp": "raw_erp"}


class IngestError(RuntimeError):
    """An ingestion run failed; the message names the system and, when known, the endpoint."""


@dataclass
class TableSummary:
    """One table's figures in a run."""

    system: str
    table: str
    rows_loaded: int = 0
    rows_rejected: int = 0
    rows_deleted: int = 0
    seconds: float = 0.0


@dataclass
class SystemSummary:
    """One system's run.

    Attributes:
        warnings: what the source could not see and what it did instead (an optional table
            the role may not read, a key sweep that could not run), each said once; the run
            still succeeded. `str(w)` is the message naming the permission or setting.
    """

    system: str
    seconds: float
    tables: list[TableSummary] = field(default_factory=list)
    resumed_pending: bool = False
    warnings: list[SourceWarning] = field(default_factory=list)

    @property
    def rows_loaded(self) -> int:
        return sum(t.rows_loaded for t in self.tables if t.table != QUARANTINE_TABLE)

    @property
    def rows_rejected(self) -> int:
        return sum(t.rows_rejected for t in self.tables)


def destination(settings: Settings) -> Any:
    """The dlt destination of the configured warehouse (credentials from dlt's config)."""
    if settings.warehouse == "snowflake":
        return dlt.destinations.snowflake()
    return dlt.destinations.duckdb(credentials=str(settings.duckdb_path))


def build_pipeline(system: str, settings: Settings | None = None) -> dlt.Pipeline:
    """The dlt pipeline of one system (state and packages under `<CLOSELOOP_HOME>/dlt`).

    Args:
        system: `crm`, `billing` or `erp`.
        settings: closeloop settings (read from the environment when omitted).
    """
    if system not in DATASETS:
        raise ValueError(f"unknown system {system!r}; choose from {', '.join(SYSTEMS)}")
    settings = settings or Settings.from_env()
    settings.home.mkdir(parents=True, exist_ok=True)
    return dlt.pipeline(
        pipeline_name=f"closeloop_{system}",
        pipelines_dir=str(settings.home / "dlt"),
        destination=destination(settings),
        dataset_name=DATASETS[system],
    )


def build_source(
    system: str,
    settings: Settings | None = None,
    *,
    stats: RunStats | None = None,
    retry: RetryPolicy | None = None,
    source_options: Mapping[str, Any] | None = None,
) -> Any:
    """The dlt source of one system, configured through dlt's config and env vars.

    Args:
        system: `crm`, `billing` or `erp`.
        settings: closeloop settings (for the CA bundle).
        stats: counters for the summary and the progress display.
        retry: retry policy overriding the default.
        source_options: arguments of the source function overriding dlt's config for this run
            (e.g. `{"key_sweep_every_hours": 0}` for the ERP).
    """
    settings = settings or Settings.from_env()
    ca = str(settings.ca_bundle) if settings.ca_bundle else None
    extra = dict(source_options or {})
    if system == "crm":
        from ingestion.sources.crm import crm_source

        return crm_source(ca_bundle=ca, stats=stats, retry=retry, **extra)
    if system == "billing":
        from ingestion.sources.billing import billing_source

        return billing_source(ca_bundle=ca, stats=stats, retry=retry, **extra)
    if system == "erp":
        from ingestion.sources.erp import erp_source

        return erp_source(ca_bundle=ca, stats=stats, retry=retry, **extra)
    raise ValueError(f"unknown system {system!r}; choose from {', '.join(SYSTEMS)}")


def _root_cause(exc: BaseException) -> BaseException:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, SourceError | ConfigFieldMissingException):
            return current
        current = current.__cause__ or current.__context__
    return exc


def run_system(
    system: str,
    settings: Settings | None = None,
    *,
    full_refresh: bool = False,
    stats: RunStats | None = None,
    retry: RetryPolicy | None = None,
    resources: Sequence[str] | None = None,
    source_options: Mapping[str, Any] | None = None,
) -> SystemSummary:
    """Ingest one system: finish an interrupted run's packages, then extract, normalize, load.

    Args:
        system: `crm`, `billing` or `erp`.
        settings: closeloop settings (read from the environment when omitted).
        full_refresh: drop the system's tables and state first.
        stats: counters to fill (a fresh set when omitted).
        retry: retry policy overriding the default.
        resources: only these resources (tables) of the source; all when omitted.
        source_options: source arguments overriding dlt's config for this run. A re-read that
            must see the ERP deletions closeloop just made passes
            `ERP_SWEEP_NOW` (`{"key_sweep_every_hours": 0}`): without the *Deleted Records*
            permission the key sweep then runs whatever its schedule.

    Raises:
        IngestError: naming the system and the failing endpoint or missing setting.
    """
    settings = settings or Settings.from_env()
    stats = stats or RunStats()
    started = time.perf_counter()
    pipeline = build_pipeline(system, settings)
    resumed = False
    try:
        if pipeline.has_pending_data:
            # `run` would load these and stop; finish them first so this run also extracts.
            log.info("%s: finishing the load packages of an interrupted run", system)
            pipeline.normalize()
            pipeline.load()
            resumed = True
        source = build_source(
            system, settings, stats=stats, retry=retry, source_options=source_options
        )
        if resources:
            source = source.with_resources(*resources)
        with bulk_gc():
            if full_refresh:
                pipeline.run(source, refresh="drop_sources")
            else:
                pipeline.run(source)
    except Exception as exc:
        cause = _root_cause(exc)
        if isinstance(cause, SourceError):
            raise IngestError(str(cause)) from None
        if isinstance(cause, ConfigFieldMissingException):
            missing = ", ".join(
                f"SOURCES__{system.upper()}__{name.upper()}" for name in cause.fields
            )
            raise IngestError(f"{system}: missing setting(s) {missing}") from None
        raise IngestError(f"{system}: ingestion failed: {type(cause).__name__}: {cause}") from exc
    counts: dict[str, int] = {}
    trace = pipeline.last_trace
    if trace is not None and trace.last_normalize_info is not None:
        counts = dict(trace.last_normalize_info.row_counts)
    summary = SystemSummary(
        system,
        time.perf_counter() - started,
        resumed_pending=resumed,
        warnings=[w for w in stats.warnings if w.system == system],
    )
    names = sorted(
        {t for t in counts if not t.startswith("_dlt")}
        | {t for (s, t) in stats.tables if s == system}
    )
    for table in names:
        ts = stats.tables.get((system, table), TableStats())
        summary.tables.append(
            TableSummary(
                system,
                table,
                # deletes pass through the load too; they are counted apart
                rows_loaded=max(0, counts.get(table, 0) - ts.deleted),
                rows_rejected=ts.rejected,
                rows_deleted=ts.deleted,
                seconds=ts.seconds,
            )
        )
    return summary


def run_ingest(
    systems: Sequence[str] = SYSTEMS,
    settings: Settings | None = None,
    *,
    full_refresh: bool = False,
    on_progress: Callable[[str, str, TableStats], None] | None = None,
    retry: RetryPolicy | None = None,
    source_options: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[SystemSummary]:
    """Ingest the given systems one after the other (DuckDB allows one writer).

    Args:
        systems: any of `crm`, `billing`, `erp`.
        settings: closeloop settings (read from the environment when omitted).
        full_refresh: drop the systems' tables and state and load everything again.
        on_progress: called with (system, table, counters) as rows arrive.
        retry: retry policy overriding the default.
        source_options: per system, source arguments overriding dlt's config for this run
            (`{"erp": ERP_SWEEP_NOW}` after closeloop wrote deletes to the ERP).

    Returns:
        One summary per system; `summary.warnings` lists what each source could not see.
    """
    settings = settings or Settings.from_env()
    stats = RunStats(on_progress)
    options = source_options or {}
    return [
        run_system(
            s,
            settings,
            full_refresh=full_refresh,
            stats=stats,
            retry=retry,
            source_options=options.get(s),
        )
        for s in systems
    ]
