"""Reconciliation health as asset checks: open exceptions over a threshold, sync latency over SLA.

They read the configured warehouse (DuckDB or Snowflake) through `reverse_etl.warehouse`.

Thresholds come from the settings when the check runs (never at import): `max_open_exceptions`,
`max_critical_exceptions` and `sync_sla_minutes` (closeloop/settings.py names their variables).
"""

from decimal import Decimal

import dagster as dg

from closeloop.settings import (
    MAX_CRITICAL_EXCEPTIONS_ENV,
    MAX_OPEN_EXCEPTIONS_ENV,
    SYNC_SLA_MINUTES_ENV,
)
from orchestration.defs.dbt.assets import model_key
from orchestration.defs.resources import CloseloopResource
from reverse_etl.corrections import find_model
from reverse_etl.warehouse import Warehouse


def _connect(closeloop: CloseloopResource) -> Warehouse:
    # the configured warehouse (DuckDB file or Snowflake); on DuckDB not read-only: in a process
    # where dbt-duckdb or dlt already opened the file read-write, DuckDB refuses a second
    # configuration of the same database
    return Warehouse.connect(closeloop.settings())


@dg.asset_check(
    asset=model_key("recon_exceptions"),
    name="open_exceptions_under_threshold",
    description=f"Open reconciliation exceptions stay under {MAX_OPEN_EXCEPTIONS_ENV} (warn).",
)
def open_exceptions_under_threshold(closeloop: CloseloopResource) -> dg.AssetCheckResult:
    """Warn when the backlog of open exceptions grows past the threshold."""
    limit = closeloop.settings().max_open_exceptions
    with _connect(closeloop) as con:
        table = find_model(con, "recon_exceptions")
        rows = con.execute(
            f"select exception_type, count(*) from {table} group by 1 order by 2 desc"
        ).fetchall()
    by_type = {str(t): int(n) for t, n in rows}
    total = sum(by_type.values())
    return dg.AssetCheckResult(
        passed=total <= limit,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"open_exceptions": total, "threshold": limit, "by_type": by_type},
    )


@dg.asset_check(
    asset=model_key("recon_exceptions"),
    name="no_critical_exceptions",
    description="Critical exceptions (large amounts or long open) stay under "
    f"{MAX_CRITICAL_EXCEPTIONS_ENV} (error).",
)
def no_critical_exceptions(closeloop: CloseloopResource) -> dg.AssetCheckResult:
    """Fail when exceptions escalated to `critical` exceed the limit."""
    limit = closeloop.settings().max_critical_exceptions
    with _connect(closeloop) as con:
        table = find_model(con, "recon_exceptions")
        row = con.execute(
            f"select count(*), coalesce(sum(abs(amount_delta_usd)), 0) from {table} "
            "where severity = 'critical'"
        ).fetchone()
    count, amount = (int(row[0]), Decimal(row[1])) if row else (0, Decimal(0))
    return dg.AssetCheckResult(
        passed=count <= limit,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"critical": count, "amount_usd": str(amount), "threshold": limit},
    )


@dg.asset_check(
    asset=model_key("ops_integration_health"),
    name="sync_latency_within_sla",
    description=f"Billing-to-ERP sync latency (p95) within {SYNC_SLA_MINUTES_ENV} (warn).",
)
def sync_latency_within_sla(closeloop: CloseloopResource) -> dg.AssetCheckResult:
    """Warn when invoices take longer than the SLA to reach the ERP."""
    sla = closeloop.settings().sync_sla_minutes
    with _connect(closeloop) as con:
        table = find_model(con, "ops_integration_health")
        rows = con.execute(
            f"select dimension, value from {table} "
            "where measure = 'billing_to_erp_sync_latency_minutes'"
        ).fetchall()
    stats = {str(d): Decimal(v) for d, v in rows if v is not None}
    p95 = stats.get("p95")
    return dg.AssetCheckResult(
        passed=p95 is None or p95 <= sla,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "sla_minutes": sla,
            **{f"{k}_minutes": float(v) for k, v in stats.items()},
        },
    )


@dg.asset_check(
    asset=model_key("dq_issues"),
    name="no_data_quality_issues",
    description="Rows kept but not converted or linked (no FX rate, unmapped product, unresolved "
    "link, ...), listed in ops.dq_issues with their reason (warn: the marts still build).",
)
def no_data_quality_issues(closeloop: CloseloopResource) -> dg.AssetCheckResult:
    """Warn, with counts by issue type and the commonest reasons, when dq_issues has rows."""
    with _connect(closeloop) as con:
        table = find_model(con, "dq_issues")
        by_type = con.execute(
            f"select issue_type, count(*) from {table} group by 1 order by 2 desc, 1"
        ).fetchall()
        reasons = con.execute(
            f"select issue_type, reason, count(*) from {table} group by 1, 2 "
            "order by 3 desc, 1, 2 limit 10"
        ).fetchall()
    counts = {str(t): int(n) for t, n in by_type}
    return dg.AssetCheckResult(
        passed=not counts,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "issues": sum(counts.values()),
            "by_issue_type": counts,
            "top_reasons": dg.MetadataValue.md(
                "\n".join(f"- {n} {t}: {r}" for t, r, n in reasons) or "none"
            ),
        },
    )


#: Age buckets of open exception work, in days since first seen.
AGE_BUCKETS = ((0, 7, "0-7 d"), (8, 30, "8-30 d"), (31, 90, "31-90 d"), (91, None, "90+ d"))


@dg.asset_check(
    asset=model_key("recon_exception_history"),
    name="exception_work_by_status_and_age",
    description="Exceptions as tracked work: how many are at each status (open, planned, "
    "awaiting_approval, applied, verified_closed, escalated, accepted, closed), and the open "
    "ones by age (docs/exceptions.md). Informational: always passes.",
)
def exception_work_by_status_and_age(closeloop: CloseloopResource) -> dg.AssetCheckResult:
    """Counts by status and, for work still open, by age bucket, with the oldest age."""
    with _connect(closeloop) as con:
        table = find_model(con, "recon_exception_history")
        by_status = con.execute(f"select status, count(*) from {table} group by 1").fetchall()
        ages = con.execute(
            f"select age_days from {table} "
            "where status not in ('closed', 'verified_closed', 'accepted')"
        ).fetchall()
    counts = {str(s): int(n) for s, n in by_status}
    open_ages = [int(a) for (a,) in ages if a is not None]
    buckets = {
        label: sum(1 for a in open_ages if a >= low and (high is None or a <= high))
        for low, high, label in AGE_BUCKETS
    }
    return dg.AssetCheckResult(
        passed=True,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "by_status": counts,
            "open_by_age": buckets,
            "open_work": len(open_ages),
            "oldest_open_days": max(open_ages, default=0),
        },
    )


RECON_CHECKS = [
    open_exceptions_under_threshold,
    no_critical_exceptions,
    sync_latency_within_sla,
    no_data_quality_issues,
    exception_work_by_status_and_age,
]
