"""MRR as docs/metrics.md (MRR and ARR) defines it, from the simulator's own state: a
subscription's monthly amount, and the USD bridge (opening + movements + fx = closing) of each
customer, exact to the cent."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from sandbox.generator import money

#: The MRR metrics of the ledger: MRR, its movements and the FX bucket (zero in currency).
MOVEMENTS = ("mrr_new", "mrr_expansion", "mrr_contraction", "mrr_churn", "mrr_reactivation")
METRICS = ("mrr", *MOVEMENTS, "mrr_fx")

#: the simulator's billing intervals: CRM contract frequency -> interval, its months, and the
#: Stripe price's recurring (interval, interval_count)
INTERVAL_OF = {"Monthly": "month", "Quarterly": "quarter", "Annual": "year"}
MONTHS = {"month": 1, "quarter": 3, "year": 12}
STRIPE_RECURRING = {"month": ("month", 1), "quarter": ("month", 3), "year": ("year", 1)}

#: statuses whose subscription counts (trialing, incomplete, paused and canceled do not)
COUNTING_STATUSES = ("active", "past_due", "unpaid")


def monthly_minor(
    period_minor: int,
    interval: str,
    interval_count: int = 1,
    percent_off: Decimal | None = None,
    amount_off: int | None = None,
) -> int:
    """The monthly amount (minor units, half away from zero) of a period amount billed every
    `interval_count` `interval`s, after a recurring discount, never below zero; a month is 1/12
    year, 52/12 weeks, 365/12 days."""
    basis_points = int(money.round_half_away(Decimal(percent_off or 0) * 100, 0))
    net = max(0, period_minor * (10000 - basis_points) - (amount_off or 0) * 10000)
    num = {"week": 52, "day": 365}.get(interval, 1)
    den = interval_count * (1 if interval == "month" else 12)
    return money.div_round(net * num, 10000 * den)


def movement(previous: int, current: int, ever: bool) -> str | None:
    """The movement of a customer whose MRR went from `previous` to `current`."""
    if previous == 0 and current > 0:
        return "mrr_reactivation" if ever else "mrr_new"
    if previous > 0 and current == 0:
        return "mrr_churn"
    if current > previous:
        return "mrr_expansion"
    if current < previous:
        return "mrr_contraction"
    return None


def usd_bridge(
    by_month: dict[str, dict[int, tuple[str, int]]],
    months: list[str],
    rate: Callable[[str, str], Decimal],
) -> dict[tuple[str, str, str], int]:
    """USD cents per (month, currency, metric) of the MRR metrics: each customer's closing is
    round(C x r), its movement round(C x r) - round(O x r) and its fx round(O x r) -
    round(O x r'), with r this month end's rate and r' the previous one's (`rate(month, cur)`)."""
    out: dict[tuple[str, str, str], int] = {}
    prev: dict[int, tuple[str, int]] = {}
    ever: set[int] = set()
    prev_month = ""
    for month in months:
        cur_map = by_month.get(month, {})
        for n in sorted(set(prev) | set(cur_map)):
            cur = (cur_map.get(n) or prev[n])[0]
            o = prev.get(n, (cur, 0))[1]
            c = cur_map.get(n, (cur, 0))[1]
            r = rate(month, cur)
            closing = money.usd_cents(c, cur, r)
            opening_new = money.usd_cents(o, cur, r)
            opening = money.usd_cents(o, cur, rate(prev_month, cur)) if o else 0
            key = movement(o, c, n in ever)
            out[(month, cur, "mrr")] = out.get((month, cur, "mrr"), 0) + closing
            if key:
                out[(month, cur, key)] = out.get((month, cur, key), 0) + closing - opening_new
            out[(month, cur, "mrr_fx")] = out.get((month, cur, "mrr_fx"), 0) + opening_new - opening
        ever |= {n for n, (_, v) in cur_map.items() if v}
        prev = {n: v for n, v in cur_map.items() if v[1]}
        prev_month = month
    return out
