"""Compare `kpi_monthly` with the sandbox's ledger (`ledger.csv`), metric by metric."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

# Ledger metrics that kpi_monthly reproduces (column name = ledger metric name).
TIED_METRICS = (
    "billings",
    "billings_voided",
    "credit_notes",
    "billings_net",
    "collections",
    "refunds",
    "collections_net",
    "ar_written_off",
    "mrr",
    "mrr_new",
    "mrr_expansion",
    "mrr_contraction",
    "mrr_churn",
    "mrr_reactivation",
    "mrr_fx",
    "open_ar",
    "recognized_revenue",
    "deferred_revenue",
    "unbilled_revenue",
    "bookings",
    "bookings_new",
    "bookings_expansion",
    "bookings_contraction",
    "bookings_renewal",
)


@dataclass(frozen=True)
class Difference:
    """One ledger figure that kpi_monthly does not reproduce."""

    month: str
    currency: str
    metric: str
    column: str
    expected: Decimal
    got: Decimal | None


def load_ledger(home: Path) -> list[dict[str, str]]:
    """The rows of the ledger of the sandbox under `home`."""
    with (home / "sandbox" / "ledger.csv").open(newline="") as fh:
        return list(csv.DictReader(fh))


def compare(kpi_rows: list[dict[str, Any]], ledger: list[dict[str, str]]) -> list[Difference]:
    """Every ledger figure of a tied metric that differs from kpi_monthly (to the cent)."""
    kpi = {(r["month_start"].strftime("%Y-%m"), r["currency_code"]): r for r in kpi_rows}
    out: list[Difference] = []
    for row in ledger:
        if row["metric"] not in TIED_METRICS:
            continue
        got = kpi.get((row["month"], row["currency"]), {})
        for column, raw in (
            (row["metric"], row["amount"]),
            (row["metric"] + "_usd", row["amount_usd"]),
        ):
            if raw == "":
                continue
            value = got.get(column)
            if value is None or Decimal(value) != Decimal(raw):
                out.append(
                    Difference(
                        row["month"],
                        row["currency"],
                        row["metric"],
                        column,
                        Decimal(raw),
                        None if value is None else Decimal(value),
                    )
                )
    return out
