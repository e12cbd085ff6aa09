"""Recognized, deferred and unbilled revenue of the simulated company, from its own invoices.

The written definition is docs/metrics.md, "Recognized and deferred revenue"; this module
follows it from the simulator's events (invoice lines as finalized, credit notes, voids,
write-offs), not from the landed data:

* a line's amount before tax and after its discounts is spread over the UTC days of its
  service period (start date included, end date excluded) by cumulative rounding to the minor
  unit; a line without a day falls in the month of its start date;
* a credit note is allocated to its invoice's positive lines in proportion to their amounts
  (cumulative rounding in line id order), each share follows the line's days and what belongs
  to months before the credit note's month is caught up in that month; a void reverses each
  line the same way in its month; from the month of a write-off nothing is recognized and the
  line's remaining balance is written off;
* each line's balance at a month end (billed - credited - written off - recognized) is deferred
  revenue when positive, unbilled revenue when negative; in USD every figure of a line is at the
  rate of its invoice's finalization day: balances rounded to the cent, recognized revenue the
  rest of the line's USD roll-forward.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

import orjson

from sandbox.generator import money
from sandbox.generator.daykey import day_key

if TYPE_CHECKING:
    from sandbox.generator.state import Invoice

METRICS = ("recognized_revenue", "deferred_revenue", "unbilled_revenue")


@dataclass
class RevenueBook:
    """What the revenue ledger needs, recorded as the simulation runs."""

    #: invoice id -> (currency, finalized epoch, USD per unit at finalization)
    invoices: dict[str, tuple[str, int, Decimal]] = field(default_factory=dict)
    #: invoice id -> [(line id, amount before tax after discounts (minor), start, end)]
    lines: dict[str, list[tuple[str, int, int, int]]] = field(default_factory=dict)
    #: (credit note id, invoice id, amount excluding tax (minor), created epoch)
    credits: list[tuple[str, str, int, int]] = field(default_factory=list)
    #: invoice id -> void epoch
    voids: dict[str, int] = field(default_factory=dict)
    #: invoice id -> marked-uncollectible epoch
    writeoffs: dict[str, int] = field(default_factory=dict)


def _day(epoch: int) -> date:
    return datetime.fromtimestamp(epoch, UTC).date()


def _month(d: date) -> date:
    return d.replace(day=1)


def _next_month(m: date) -> date:
    return date(m.year + (m.month == 12), 1 if m.month == 12 else m.month + 1, 1)


def _share(amount: int, elapsed: int, total: int) -> int:
    """amount x elapsed / total, rounded half away from zero (exact integers)."""
    return money.div_round(amount * elapsed, total)


def _spread(amount: int, start: date, days: int) -> dict[date, int]:
    """A signed amount over `days` UTC days from `start`, per month, by cumulative rounding."""
    if days <= 0:
        return {_month(start): amount}
    out: dict[date, int] = {}
    month = _month(start)
    done = 0
    while done < days:
        nxt = _next_month(month)
        elapsed = min(days, max(0, (nxt - start).days))
        out[month] = _share(amount, elapsed, days) - _share(amount, done, days)
        done = elapsed
        month = nxt
    return out


@dataclass
class _Account:
    """One line (or a credit note without a line) and its movements per month (minor units)."""

    currency: str
    rate: Decimal
    written_off_month: date | None = None
    billed: dict[date, int] = field(default_factory=lambda: defaultdict(int))
    credited: dict[date, int] = field(default_factory=lambda: defaultdict(int))
    scheduled: dict[date, int] = field(default_factory=lambda: defaultdict(int))


def _schedule_item(acct: _Account, amount: int, start: date, days: int, catch_up: date | None):
    for month, part in _spread(amount, start, days).items():
        acct.scheduled[max(month, catch_up) if catch_up else month] += part


def _accounts(book: RevenueBook) -> list[_Account]:
    accounts: dict[str, _Account] = {}
    shape: dict[str, tuple[date, int]] = {}
    for inv_id, lines in book.lines.items():
        cur, finalized, rate = book.invoices[inv_id]
        void = book.voids.get(inv_id)
        writeoff = book.writeoffs.get(inv_id)
        for line_id, amount, start, end in lines:
            d0 = _day(start)
            days = max((_day(end) - d0).days, 0)
            acct = _Account(cur, rate, _month(_day(writeoff)) if writeoff is not None else None)
            acct.billed[_month(_day(finalized))] += amount
            _schedule_item(acct, amount, d0, days, None)
            if void is not None:
                vm = _month(_day(void))
                acct.credited[vm] += amount
                _schedule_item(acct, -amount, d0, days, vm)
            accounts[line_id] = acct
            shape[line_id] = (d0, days)
    for cn_id, inv_id, amount, created in book.credits:
        cm = _month(_day(created))
        positive = sorted(
            (line_id, amt) for line_id, amt, _, _ in book.lines.get(inv_id, []) if amt > 0
        )
        total = sum(amt for _, amt in positive)
        if not positive:
            cur, _, rate = book.invoices[inv_id]
            acct = _Account(cur, rate)
            acct.credited[cm] += amount
            acct.scheduled[cm] -= amount
            accounts[cn_id] = acct
            continue
        running = 0
        for line_id, amt in positive:
            share = _share(amount, running + amt, total) - _share(amount, running, total)
            running += amt
            acct = accounts[line_id]
            acct.credited[cm] += share
            d0, days = shape[line_id]
            _schedule_item(acct, -share, d0, days, cm)
    return list(accounts.values())


def figures(book: RevenueBook | None, months: list[str]) -> dict[tuple[str, str, str], list[int]]:
    """(month "YYYY-MM", currency, metric) -> [minor, USD cents] for the reported months."""
    out: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0, 0])
    if book is None:
        return out
    reported = {m: date(int(m[:4]), int(m[5:]), 1) for m in months}
    for acct in _accounts(book):
        cur, rate = acct.currency, acct.rate
        wo = acct.written_off_month
        moved = set(acct.billed) | set(acct.credited) | set(acct.scheduled)
        first, last = min(moved), max(moved)
        if wo is not None and first <= wo <= last:
            written = {wo: sum(v for m, v in acct.scheduled.items() if m >= wo)}
        else:
            written = {}
        balance = billed_cum = credited_cum = written_cum = 0
        month = first
        while month <= last:
            recognized = acct.scheduled.get(month, 0) if wo is None or month < wo else 0
            b, c, w = acct.billed.get(month, 0), acct.credited.get(month, 0), written.get(month, 0)
            opening = balance
            balance = opening + b - c - w - recognized
            b_usd = _usd(billed_cum + b, cur, rate) - _usd(billed_cum, cur, rate)
            c_usd = _usd(credited_cum + c, cur, rate) - _usd(credited_cum, cur, rate)
            w_usd = _usd(written_cum + w, cur, rate) - _usd(written_cum, cur, rate)
            billed_cum += b
            credited_cum += c
            written_cum += w
            closing_usd = _usd(balance, cur, rate)
            recognized_usd = _usd(opening, cur, rate) + b_usd - c_usd - w_usd - closing_usd
            key = f"{month.year:04d}-{month.month:02d}"
            if key in reported:
                for metric, minor, usd in (
                    ("recognized_revenue", recognized, recognized_usd),
                    ("deferred_revenue", max(balance, 0), _usd(max(balance, 0), cur, rate)),
                    ("unbilled_revenue", max(-balance, 0), _usd(max(-balance, 0), cur, rate)),
                ):
                    cell = out[(key, cur, metric)]
                    cell[0] += minor
                    cell[1] += usd
            month = _next_month(month)
    return out


def _usd(minor: int, currency: str, rate: Decimal) -> int:
    return money.usd_cents(minor, currency, rate)


def ledger_rows(
    book: RevenueBook | None, months: list[str], currencies: tuple[str, ...]
) -> list[tuple[str, str, str, str, str]]:
    """The ledger rows of the revenue metrics: per month, currency and ALL (USD only)."""
    got = figures(book, months)
    rows: list[tuple[str, str, str, str, str]] = []
    for month in months:
        for metric in METRICS:
            all_usd = 0
            for cur in currencies:
                minor, usd = got.get((month, cur, metric), [0, 0])
                all_usd += usd
                rows.append(
                    (month, cur, metric, money.major_text(minor, cur), money.cents_text(usd))
                )
            rows.append((month, "ALL", metric, "", money.cents_text(all_usd)))
    return rows


# ---------------------------------------------------------------- recording (simulator hooks)
def book_of(ledger: object) -> RevenueBook:
    """The ledger's revenue book (a state pickled before it existed gets an empty one)."""
    book = getattr(ledger, "revenue", None)
    if book is None:
        book = RevenueBook()
        setattr(ledger, "revenue", book)  # noqa: B010 - older pickles lack the field
    return book


def record_invoice(ledger: object, inv: Invoice, rate_on: dict[str, dict[str, Decimal]]) -> None:
    """A finalized invoice: its lines before tax and after discounts, and its rate."""
    cur = inv.currency
    rate = Decimal(1) if cur == "USD" else rate_on[day_key(inv.finalized_at)][cur]
    book = book_of(ledger)
    book.invoices[inv.id] = (cur, inv.finalized_at, rate)
    lines = []
    for blob, (line_id, _, amount, _, _, start, end, _) in zip(
        inv.line_blobs, inv.line_meta, strict=True
    ):
        doc = orjson.loads(blob)
        before_tax = doc.get("amount_excluding_tax")
        discounts = sum(int(d.get("amount") or 0) for d in doc.get("discount_amounts") or [])
        lines.append(
            (line_id, (amount if before_tax is None else before_tax) - discounts, start, end)
        )
    book.lines[inv.id] = lines


def record_credit(ledger: object, cn_id: str, inv_id: str, amount: int, t: int) -> None:
    """A credit note issued at `t` for `amount` (minor, excluding tax) on an invoice."""
    book_of(ledger).credits.append((cn_id, inv_id, amount, t))


def record_void(ledger: object, inv_id: str, t: int) -> None:
    book_of(ledger).voids[inv_id] = t


def record_writeoff(ledger: object, inv_id: str, t: int) -> None:
    book_of(ledger).writeoffs[inv_id] = t
