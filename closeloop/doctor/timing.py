"""Settlement windows measured from the landing: how long the ERP takes to post what billing did.

For each exception type whose window covers a posting the integration makes (docs/exceptions.md,
Timing), the lag between the billing record (a Stripe invoice's finalization, a charge, a refund,
a credit note) and the ERP transaction that posts it (its `createddate`), over every pair the
landing links: the ERP names the Stripe id (or the invoice number) in `externalid`, `otherrefnum`
or `memo`. The first posting counts (a duplicate is a fault, not a lag). Reported per type: the
documents measured, the median, p95, p99 and max in hours, the share posted within the window
configured (`settlement_window_hours`) and the window suggested: p99 rounded up to the hour, at
least 1 (the max is often one late posting, which is what an exception should catch). A type
whose configured window is shorter than that lists postings still on their way as exceptions,
so `suggest` proposes the whole map with that window raised (a var given on the command line
replaces the map).

The SQL is DuckDB's (`regexp_extract`, `epoch`, `quantile_cont`), as the rest of doctor.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

from closeloop.doctor.defaults import DBT_PROJECT_FILE
from closeloop.doctor.landing import Landing, literal, t

#: Each measured type: what the lag is measured from (the billing side), and the ERP type.
MEASURED: dict[str, tuple[str, str]] = {
    "invoice_missing_in_erp": ("a Stripe invoice's finalization", "CustInvc"),
    "invoice_status_mismatch": (
        "a charge (the ERP invoice turns paid with the payment)",
        "CustPymt",
    ),
    "payment_missing_in_erp": ("a charge", "CustPymt"),
    "refund_missing_in_erp": ("a refund", "CustRfnd"),
    "credit_note_missing_in_erp": ("a credit note", "CustCred"),
}


def configured_windows(path: Path = DBT_PROJECT_FILE) -> dict[str, float]:
    """`settlement_window_hours` as dbt_project.yml sets it (empty when it cannot be read)."""
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError):
        return {}
    found = (doc.get("vars") or {}).get("settlement_window_hours") or {}
    return {str(k): float(v) for k, v in found.items()}


def _reference_joins(
    landing: Landing, billing: str, forms: Sequence[tuple[str, str | None]], erp_type: str
) -> str | None:
    """`select billing_id, posted_at` of the ERP postings of `erp_type` that name a billing
    record, by each form (`(column, pattern inside the memo)`): one equi-join per field and
    form, unioned, so each stays a hash join."""
    tcols = set(landing.cols("raw_erp", "transaction"))
    if not {"type", "createddate"} <= tcols:
        return None
    tr = t("raw_erp", "transaction")
    head = f"select b.id as billing_id, tr.createddate as posted_at from {tr} as tr "
    where = f" where tr.type = {literal(erp_type)}"
    parts = []
    for column, pattern in forms:
        for field in ("externalid", "otherrefnum"):
            if field in tcols:
                parts.append(
                    head + f"inner join {billing} as b "
                    f"on cast(tr.{field} as varchar) = cast(b.{column} as varchar)" + where
                )
        if "memo" in tcols and pattern is not None:
            found = f"regexp_extract(cast(tr.memo as varchar), {literal(pattern)})"  # duckdb
            parts.append(
                head + f"inner join {billing} as b on {found} = cast(b.{column} as varchar)" + where
            )
    return " union all ".join(parts) if parts else None


def _lags(
    landing: Landing,
    table: str,
    forms: Sequence[tuple[str, str | None]],
    start: str,
    erp_type: str,
    only: str = "",
) -> list[float]:
    """Hours from each billing record's `start` (epoch seconds) to its first ERP posting (of
    the billing records `only` keeps, a condition on `b`)."""
    if not landing.has("raw_billing", table, "id", start, *(c for c, _ in forms)):
        return []
    billing = t("raw_billing", table)
    postings = _reference_joins(landing, billing, forms, erp_type)
    if postings is None:
        return []
    rows = landing.rows(
        f"with postings as ({postings}), first_posting as ("
        "select billing_id, min(posted_at) as posted_at from postings group by billing_id) "
        f"select (epoch(p.posted_at) - cast(b.{start} as double)) / 3600.0 "  # duckdb: epoch
        f"from first_posting as p inner join {billing} as b on p.billing_id = b.id "
        f"where b.{start} is not null{f' and {only}' if only else ''}"
    )
    return [max(0.0, float(r[0])) for r in rows if r[0] is not None]


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q
    low, high = math.floor(pos), math.ceil(pos)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def settlement_windows(
    landing: Landing,
    configured: dict[str, float] | None = None,
    id_pattern: str = "in_[A-Za-z0-9]+",
    number_pattern: str = "[A-Z0-9]{3,12}-[0-9]{4,}",
) -> dict[str, Any]:
    """The measured posting lag per exception type, with the configured and suggested window."""
    configured = configured_windows() if configured is None else configured
    invoice_start = (
        "status_transitions__finalized_at"
        if landing.has("raw_billing", "invoices", "status_transitions__finalized_at")
        else "created"
    )
    charges = [("id", r"ch_[A-Za-z0-9]+"), ("payment_intent", r"pi_[A-Za-z0-9]+")]
    # a payment intent's failed attempts are charges too: only the one that succeeded is posted
    succeeded = "b.status = 'succeeded'" if landing.has("raw_billing", "charges", "status") else ""
    charge_lags = _lags(landing, "charges", charges, "created", "CustPymt", succeeded)
    invoices = [("id", id_pattern), ("number", number_pattern)]
    measured = {
        "invoice_missing_in_erp": _lags(landing, "invoices", invoices, invoice_start, "CustInvc"),
        "invoice_status_mismatch": charge_lags,
        "payment_missing_in_erp": charge_lags,
        "refund_missing_in_erp": _lags(
            landing, "refunds", [("id", r"re_[A-Za-z0-9]+")], "created", "CustRfnd"
        ),
        "credit_note_missing_in_erp": _lags(
            landing,
            "credit_notes",
            [("id", r"cn_[A-Za-z0-9]+"), ("number", None)],
            "created",
            "CustCred",
        ),
    }
    types: dict[str, Any] = {}
    for name, lags in measured.items():
        window = configured.get(name, 0.0)
        entry: dict[str, Any] = {
            "measured_from": MEASURED[name][0],
            "erp_type": MEASURED[name][1],
            "documents": len(lags),
            "configured_hours": window,
        }
        if lags:
            p95 = _quantile(lags, 0.95)
            entry.update(
                {
                    "p50_hours": round(_quantile(lags, 0.5), 2),
                    "p95_hours": round(p95, 2),
                    "max_hours": round(max(lags), 2),
                    "p99_hours": round(_quantile(lags, 0.99), 2),
                    "suggested_hours": max(1, math.ceil(_quantile(lags, 0.99))),
                    "within_configured_pct": round(
                        100.0 * sum(1 for x in lags if x <= window) / len(lags), 1
                    ),
                }
            )
        types[name] = entry
    too_short = {
        n: e["suggested_hours"]
        for n, e in types.items()
        if e.get("suggested_hours") is not None and e["suggested_hours"] > e["configured_hours"]
    }
    return {"available": any(e["documents"] for e in types.values()), "types": types,
            "too_short": too_short, "configured": configured}  # fmt: skip
