"""The simulation engine: one SaaS company's order-to-cash history, event by event.

A priority queue of timed happenings (opportunity closes, renewals, payment attempts,
amendments, wires, ...) drives three mirrored systems. Billing is the owner of invoice
content; the ERP postings are what a flawed legacy integration made of it, with injected,
recorded faults.

This module is the core: the state, the id and fault helpers, the queue and the run loop, the
daily arrivals and the KPI snapshots. Each job's handlers live in a mixin of its own module:
`lifecycle` (CRM accounts, opportunities, contracts), `subscriptions` (renewals, amendments,
churn), `billing_docs` (invoices, charges, refunds, credit notes), `legacy_erp` (the ERP
postings and their faults) and `fx` (exchange rates). `Simulation` stays here, where the
pickled state of `advance` names it.
"""

from __future__ import annotations

import heapq
import logging
import random
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sandbox import schema
from sandbox.generator import money, mrr
from sandbox.generator.billing_docs import BillingDocsMixin
from sandbox.generator.catalog import PRODUCTS
from sandbox.generator.daykey import day_key as _d
from sandbox.generator.fastids import fast_sf_id, fast_stripe_id
from sandbox.generator.fx import FxMixin
from sandbox.generator.legacy_erp import LegacyErpMixin
from sandbox.generator.lifecycle import LifecycleMixin, prospecting_opp
from sandbox.generator.profile import CLASSIC, Profile
from sandbox.generator.state import Contract, Customer, Invoice, LedgerState, Subscription
from sandbox.generator.store import Store
from sandbox.generator.stripe_docs import PriceBook, event_doc
from sandbox.generator.subscriptions import SubscriptionMixin
from sandbox.generator.timeutil import DAY, epoch_of, iso_z, month_key

__all__ = ["EVENT_WINDOW", "ProgressFn", "Simulation", "prospecting_opp"]

log = logging.getLogger(__name__)

ProgressFn = Callable[[str, float], None]

EVENT_WINDOW = 30 * DAY  # Stripe keeps 30 days of events


class Simulation(LifecycleMixin, SubscriptionMixin, BillingDocsMixin, LegacyErpMixin, FxMixin):
    """All live state of the simulated company plus the queue of what happens next."""

    def __init__(
        self,
        *,
        seed: int,
        scale: str,
        customers: int,
        rate: float,
        start: date,
        end: date,
        usage_share: float,
        profile: Profile = CLASSIC,
    ) -> None:
        self.seed = seed
        self.profile = profile
        self.scale = scale
        self.target_customers = customers
        self.rate = rate
        self.start = start
        self.usage_share = usage_share
        self.end_hint = end
        self.next_contract: dict[str, str] = {}
        self.fault_acc: dict[str, float] = {}
        self.usage_scheduled: set[int] = set()
        self.day = start  # next day to simulate
        self.clock = epoch_of(start)
        self.counters: dict[str, int] = {}
        self.customers: dict[int, Customer] = {}
        self.contracts: dict[str, Contract] = {}
        self.subs: dict[str, Subscription] = {}
        self.invoices: dict[str, Invoice] = {}
        self.open_opps: dict[str, dict[str, Any]] = {}
        self.heap: list[tuple[int, int, str, Any]] = []
        self.fx: dict[str, dict[str, Decimal]] = {}
        self.fx_written: set[str] = set()
        # a cadence other than daily: the market's daily walk, and the days a rate is entered
        # (self.fx then holds, per day, the rate as of that day: the latest entered on or
        # before it, which is what the ERP applies)
        self.fx_walk: dict[str, dict[str, Decimal]] = {}
        self.fx_effective: set[str] = set()
        self.fx_next_entry = start
        self.ledger = LedgerState()
        self.gt_n = 0
        self.erp_next: dict[str, int] = {}
        self.item_erp_id = {p.code: p.n for p in PRODUCTS}
        self.book = PriceBook(seed, epoch_of(start) - 400 * DAY, profile)
        # per run (not pickled)
        self.rng = random.Random(seed)
        self.store: Store | None = None
        self.gt: list[dict[str, Any]] = []
        self.events_from = 0
        self.advance_mode = False

    # ------------------------------------------------------------------ pickling
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        for k in ("rng", "store", "gt"):
            state.pop(k, None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        # a state pickled before profiles existed is the classic company
        state.setdefault("profile", CLASSIC)
        state.setdefault("fx_walk", {})
        state.setdefault("fx_effective", set())
        state.setdefault("fx_next_entry", state["start"])
        self.__dict__.update(state)
        self.rng = random.Random(self.seed)
        self.store = None
        self.gt = []

    # ------------------------------------------------------------------ helpers
    def next_n(self, key: str) -> int:
        n = self.counters.get(key, 0) + 1
        self.counters[key] = n
        return n

    def sid(self, prefix: str) -> str:
        return fast_stripe_id(prefix, self.next_n(prefix), self.seed)

    def sfid(self, obj: str) -> str:
        return fast_sf_id(schema.CRM_KEY_PREFIX[obj], self.next_n("sf:" + obj))

    def erp_id(self, table: str) -> int:
        n = self.erp_next.get(table, 1)
        self.erp_next[table] = n + 1
        return n

    def due(self, key: str) -> bool:
        """Whether the next eligible record of this kind gets a fault.

        An accumulator per kind (not a coin flip): the share of faulted records is the
        discrepancy rate at any scale, and the first eligible record of each kind is
        faulted, so every exception type shows up even in a small sandbox.
        """
        return self.share(key, self.rate)

    def share(self, key: str, p: float) -> bool:
        """True for about a share p of calls, the first one included (jittered accumulator)."""
        if p <= 0:
            return False
        acc = self.fault_acc.get(key, 1.0 - p * 0.5)
        acc += p * (0.5 + self.rng.random())
        hit = acc >= 1.0
        self.fault_acc[key] = acc - 1.0 if hit else acc
        return hit

    def cycle(self, key: str, options: tuple[str, ...]) -> str:
        """The next fault type of a family, in turn (so each type is represented)."""
        k = self.counters.get("cycle:" + key, 0)
        self.counters["cycle:" + key] = k + 1
        return options[k % len(options)]

    def push(self, t: int, kind: str, ref: Any) -> None:
        heapq.heappush(self.heap, (t, self.next_n("heap"), kind, ref))

    def at(self, t: int, dt: int) -> int:
        return min(t + dt, self.clock - 1) if t < self.clock else t

    @property
    def st(self) -> Store:
        assert self.store is not None
        return self.store

    def event(
        self,
        t: int,
        etype: str,
        obj: dict[str, Any] | Callable[[], dict[str, Any]],
        prev: dict[str, Any] | None = None,
    ) -> None:
        """Record a Stripe event (only inside the 30-day window; rendering is lazy)."""
        if t < self.events_from:
            return
        if callable(obj):
            obj = obj()
        eid = self.sid("evt")
        doc = event_doc(eid, t, etype, obj, prev, schema.STORED_STRIPE_VERSION)
        self.st.billing_row("events", {"id": eid, "created": t, "type": etype, "doc": doc})

    def record_gt(
        self,
        etype: str,
        *,
        at: int,
        crm_id: str | None = None,
        billing_id: str | None = None,
        erp_id: int | str | None = None,
        field: str | None = None,
        correct: Any = None,
        wrong: Any = None,
        caused_by: str | None = None,
        entered: int | None = None,
    ) -> str:
        """Record an injected discrepancy; `entered` is when the record it is about happened in
        its system of record (where recon dates it, for the settlement window), if not `at`."""
        self.gt_n += 1
        gid = f"gt-{self.gt_n:06d}"
        self.gt.append(
            {
                "id": gid,
                "exception_type": etype,
                "crm_id": crm_id,
                "billing_id": billing_id,
                "erp_id": None if erp_id is None else str(erp_id),
                "field": field,
                "correct_value": None if correct is None else str(correct),
                "wrong_value": None if wrong is None else str(wrong),
                "caused_by": caused_by,
                "injected_at": iso_z(at),
                "entered_at": iso_z(at if entered is None else entered),
            }
        )
        return gid

    def ledger_add(
        self,
        table: dict[tuple[str, str], list[int]],
        t: int,
        cur: str,
        minor: int,
        rate_t: int | None = None,
    ):
        """Add a document to its month (of `t`), in USD at the rate of `rate_t`'s day (default
        `t`: a void reverses at the rate its invoice was billed at)."""
        d = _d(t)
        if cur == "USD":
            usd = minor
        else:
            rate = self.fx[_d(t if rate_t is None else rate_t)][cur]
            usd = money.usd_cents_micro(minor, cur, money.micro_units(rate))
        cell = table.setdefault((d[:7], cur), [0, 0])
        cell[0] += minor
        cell[1] += usd

    # ------------------------------------------------------------------ running
    def run(self, until: date, progress: ProgressFn | None, stage: str) -> None:
        """Simulate every day from self.day up to (excluding) `until`; the clock is `until`."""
        self.clock = epoch_of(until)
        total = max(1, (until - self.day).days)
        done = 0
        first_day = self.day
        while self.day < until:
            d = self.day
            if d.day == 1 and d > self.start:
                self.month_snapshot(d)
            self.fx_day(d)
            self.daily(d)
            if self.advance_mode and (d == first_day or self.rng.random() < 0.2):
                self.delete_lost_opportunity(epoch_of(d) + self.rng.randint(9 * 3600, 17 * 3600))
            end = epoch_of(d) + DAY
            while self.heap and self.heap[0][0] < end:
                t, _, kind, ref = heapq.heappop(self.heap)
                getattr(self, "on_" + kind)(t, ref)
            self.day = d + timedelta(days=1)
            done += 1
            if progress and done % 15 == 0:
                progress(stage, done / total)
        if (
            until.day == 1
            and until > self.start
            and month_key(until - timedelta(days=1)) not in (self.ledger.snapshots)
        ):
            self.month_snapshot(until)

    # ------------------------------------------------------------------ daily
    def daily(self, d: date) -> None:
        t0 = epoch_of(d)
        days_total = max(1, (self.end_hint - self.start).days)
        elapsed = (d - self.start).days
        cohort = 0.8 * self.target_customers
        later = self.target_customers - cohort
        expected = later / 0.3 / days_total
        if elapsed < 45:
            # the initial book: customers who bought before the history starts close now
            expected_cohort = cohort / 45
            for _ in range(self._poisson(expected_cohort)):
                ts = t0 + self.rng.randint(9 * 3600, 18 * 3600)
                self.new_opportunity(ts - self.rng.randint(20, 120) * DAY, ts, won=True)
        for _ in range(self._poisson(expected)):
            created = t0 + self.rng.randint(8 * 3600, 19 * 3600)
            close = created + self.rng.randint(14, 75) * DAY
            self.new_opportunity(created, close, won=self.rng.random() < 0.3)
        # account renames (propagated, or not at the discrepancy rate)
        live = len(self.customers)
        for _ in range(self._poisson(live * 0.0003)):
            n = self.rng.randint(1, live) if live else 0
            if n:
                self.push(t0 + self.rng.randint(8 * 3600, 20 * 3600), "rename", n)

    def _poisson(self, lam: float) -> int:
        if lam <= 0:
            return 0
        if lam > 30:
            return max(0, int(self.rng.gauss(lam, lam**0.5) + 0.5))
        n, p, limit = 0, 1.0, pow(2.718281828459045, -lam)
        while True:
            p *= self.rng.random()
            if p <= limit:
                return n
            n += 1

    # ------------------------------------------------------------------ KPIs
    def item_mrr(self, s: Subscription) -> int:
        """The subscription's MRR (docs/metrics.md, MRR and ARR): its items' period amount
        over the months of its interval, rounded once."""
        period = 0
        for it in s.items:
            unit = self.book.price_amount[(it.code, s.currency, s.interval)]
            period += unit * it.quantity
        return mrr.monthly_minor(period, *mrr.STRIPE_RECURRING[s.interval])

    def mrr_now(self) -> dict[int, int]:
        out: dict[int, int] = {}
        for s in self.subs.values():
            if s.status in mrr.COUNTING_STATUSES:
                out[s.cust] = out.get(s.cust, 0) + self.item_mrr(s)
        return {k: v for k, v in out.items() if v}

    def snapshot_values(self) -> tuple[dict[str, dict[str, int]], dict[int, int]]:
        cur_mrr = self.mrr_now()
        prev = self.ledger.mrr_prev
        metrics = {
            m: {c: 0 for c in self.profile.currencies}
            for m in (
                "mrr",
                "mrr_new",
                "mrr_expansion",
                "mrr_contraction",
                "mrr_churn",
                "mrr_reactivation",
                "mrr_fx",
                "open_ar",
            )
        }
        # each customer's MRR at this instant, for the ledger's USD bridge (mrr.usd_bridge)
        self.ledger.mrr_customers[month_key(self.day - timedelta(days=1))] = {
            n: (self.customers[n].currency, v) for n, v in cur_mrr.items()
        }
        for n in sorted(set(cur_mrr) | set(prev)):
            cur = self.customers[n].currency
            a, b = prev.get(n, 0), cur_mrr.get(n, 0)
            metrics["mrr"][cur] += b
            if a == 0 and b > 0:
                key = "mrr_reactivation" if n in self.ledger.mrr_ever else "mrr_new"
                metrics[key][cur] += b
            elif a > 0 and b == 0:
                metrics["mrr_churn"][cur] -= a
            elif b > a:
                metrics["mrr_expansion"][cur] += b - a
            elif b < a:
                metrics["mrr_contraction"][cur] += b - a
        # open AR (docs/metrics.md): invoices finalized, and neither paid, voided nor written off
        # before this instant (the month's first), for what remained then: total - payments
        # - credit notes, floored at zero (a credit note on a paid invoice is post-payment)
        for inv in self.invoices.values():
            if inv.status == "open":
                remaining = max(0, inv.total - inv.amount_paid - inv.cn_amount)
                metrics["open_ar"][inv.currency] += remaining
        return metrics, cur_mrr

    def month_snapshot(self, first_of_next: date) -> None:
        month = month_key(first_of_next - timedelta(days=1))
        metrics, cur_mrr = self.snapshot_values()
        self.ledger.snapshots[month] = metrics
        self.ledger.mrr_prev = cur_mrr
        self.ledger.mrr_ever |= set(cur_mrr)
