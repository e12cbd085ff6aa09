"""The simulator's own monthly KPIs (`ledger.csv`), from its running aggregates."""

from __future__ import annotations

import csv
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from sandbox.generator import money, mrr, revenue
from sandbox.generator.state import LedgerState

DOC_METRICS = (
    "billings",
    "billings_voided",
    "credit_notes",
    "collections",
    "refunds",
    "ar_written_off",
)
#: differences of document metrics (docs/metrics.md): net = gross - the reversals
NET_METRICS = {
    "billings_net": ("billings", ("billings_voided", "credit_notes")),
    "collections_net": ("collections", ("refunds",)),
}
#: won opportunities by close month (docs/metrics.md, Bookings): summed like documents
BOOKINGS_METRICS = (
    "bookings",
    "bookings_new",
    "bookings_expansion",
    "bookings_contraction",
    "bookings_renewal",
)
SNAPSHOT_METRICS = (
    "mrr",
    "mrr_new",
    "mrr_expansion",
    "mrr_contraction",
    "mrr_churn",
    "mrr_reactivation",
    "mrr_fx",
    "open_ar",
)
HEADER = ("month", "currency", "metric", "amount", "amount_usd")


def month_range(first: date, last: date) -> list[str]:
    """`YYYY-MM` keys from first's month to last's month inclusive."""
    out = []
    y, m = first.year, first.month
    while (y, m) <= (last.year, last.month):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def _month_end_rate(
    rate_on: dict[str, dict[str, Decimal]], month: str, cur: str, last_day: date
) -> Decimal:
    """The rate of a month's month-end figures: its last simulated day's."""
    if cur == "USD":
        return Decimal(1)
    y, m = int(month[:4]), int(month[5:])
    nxt = date(y + (m == 12), 1 if m == 12 else m + 1, 1)
    return rate_on[min(nxt - timedelta(days=1), last_day).isoformat()][cur]


def write_ledger(
    path: Path,
    ledger: LedgerState,
    *,
    start: date,
    clock: date,
    partial: dict[str, dict[str, int]] | None,
    rate_on: dict[str, dict[str, Decimal]],
    currencies: tuple[str, ...] = money.CURRENCIES,
) -> None:
    """Write ledger.csv: every month from start to the clock's month (partial included)."""
    last_day = clock - timedelta(days=1)
    months = month_range(start, last_day)
    rows: list[tuple[str, str, str, str, str]] = []
    mrr_usd = mrr.usd_bridge(
        ledger.mrr_customers,
        months,
        lambda month, cur: _month_end_rate(rate_on, month, cur, last_day),
    )
    for month in months:
        snap = ledger.snapshots.get(month) or (partial if month == months[-1] else None)
        # the rate for month-end figures: the month's last simulated day
        y, m = int(month[:4]), int(month[5:])
        nxt = date(y + (m == 12), 1 if m == 12 else m + 1, 1)
        rate_day = min(nxt - timedelta(days=1), last_day).isoformat()
        for metric in DOC_METRICS + tuple(NET_METRICS) + BOOKINGS_METRICS + SNAPSHOT_METRICS:
            all_usd = 0
            for cur in currencies:
                if metric in DOC_METRICS or metric in BOOKINGS_METRICS:
                    minor, usd = getattr(ledger, metric).get((month, cur), [0, 0])
                elif metric in NET_METRICS:
                    gross, less = NET_METRICS[metric]
                    minor, usd = getattr(ledger, gross).get((month, cur), [0, 0])
                    for part in less:
                        pm, pu = getattr(ledger, part).get((month, cur), [0, 0])
                        minor, usd = minor - pm, usd - pu
                elif metric in mrr.METRICS:
                    # per customer at the month-end rates, with an FX bucket (docs/metrics.md)
                    minor = snap[metric][cur] if snap else 0
                    usd = mrr_usd.get((month, cur, metric), 0)
                else:
                    minor = snap[metric][cur] if snap else 0
                    rate = Decimal(1) if cur == "USD" else rate_on[rate_day][cur]
                    usd = money.usd_cents(minor, cur, rate)
                all_usd += usd
                rows.append(
                    (month, cur, metric, money.major_text(minor, cur), money.cents_text(usd))
                )
            rows.append((month, "ALL", metric, "", money.cents_text(all_usd)))
    # recognized, deferred and unbilled revenue from the simulator's own invoices
    rows.extend(revenue.ledger_rows(revenue.book_of(ledger), months, currencies))
    with path.open("w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(HEADER)
        w.writerows(rows)
