"""The simulation engine: one SaaS company's order-to-cash history, event by event.

A priority queue of timed happenings (opportunity closes, renewals, payment attempts,
amendments, wires, ...) drives three mirrored systems. Billing is the owner of invoice
content; the ERP postings are what a flawed legacy integration made of it, with injected,
recorded faults.
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
from sandbox.generator import money
from sandbox.generator.catalog import (
    CITIES,
    CURRENCY_ERP_ID,
    FIRST_NAMES,
    FX_START,
    INDUSTRIES,
    LAST_NAMES,
    NAME_LEFT,
    NAME_RIGHT,
    NAME_SUFFIX,
    PRODUCT_BY_CODE,
    PRODUCTS,
    SUBSIDIARIES,
    SUBSIDIARY_BY_KEY,
    SUBSIDIARY_WEIGHTS,
    TITLES,
    USAGE_PRODUCT,
)
from sandbox.generator.fastids import cached_sf_id, fast_sf_id, fast_stripe_id
from sandbox.generator.profile import CLASSIC, Profile
from sandbox.generator.render import charge_doc_of, erp_invoice_snapshot, invoice_snapshot
from sandbox.generator.state import (
    Contract,
    Customer,
    Invoice,
    LedgerState,
    SubItem,
    Subscription,
)
from sandbox.generator.store import CRM_COLS, Store, dumps_bytes
from sandbox.generator.stripe_docs import (
    PriceBook,
    credit_note_doc,
    customer_doc,
    event_doc,
    invoice_doc,
    invoice_reference,
    line_doc,
    payment_intent_doc,
    refund_doc,
    subscription_doc,
)
from sandbox.generator.timeutil import (
    DAY,
    add_months,
    date_of,
    epoch_of,
    iso_day,
    iso_z,
    month_key,
    ns_datetime,
    sf_datetime,
    short_date,
)

log = logging.getLogger(__name__)

ProgressFn = Callable[[str, float], None]

RETRY_DAYS = (3, 5, 7)  # Stripe smart-retry-like schedule after the 1st, 2nd, 3rd failure
RECENT = 60 * DAY  # "recently won" window for the customer-level faults
RETIRE_AFTER = 32 * DAY  # settled invoices stay in memory this long (credit notes come first)
EVENT_WINDOW = 30 * DAY  # Stripe keeps 30 days of events


def _d(t: int) -> str:
    return iso_day(t - t % DAY)


def prospecting_opp(
    opp_id: str,
    account_id: str,
    name: str,
    opp_type: str,
    close: int,
    currency: str,
    created: str,
    modified: str,
) -> dict[str, Any]:
    """A new Opportunity row at the first stage (`close_won_opp` or a loss closes it)."""
    return {
        "Id": opp_id,
        "AccountId": account_id,
        "ContractId": None,
        "Name": name,
        "StageName": "Prospecting",
        "Type": opp_type,
        "Amount": None,
        "Probability": 10.0,
        "CloseDate": _d(close),
        "IsClosed": 0,
        "IsWon": 0,
        "CurrencyIsoCode": currency,
        "IsDeleted": 0,
        "CreatedDate": created,
        "LastModifiedDate": modified,
        "SystemModstamp": modified,
    }


class Simulation:
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

    def latency(self, t: int) -> int:
        """When the legacy integration posts something that happened at t (before the clock)."""
        r = self.rng.random()
        lag = self.rng.randint(60, 1800) if r < 0.8 else self.rng.randint(1800, 5 * 3600)
        out = t + lag
        if out >= self.clock:
            out = t + max(1, (self.clock - t) // 2)
        return out

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
    ) -> str:
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
            }
        )
        return gid

    def rate_on(self, d: str, currency: str) -> Decimal:
        """USD per unit of currency on a date (the ERP's consolidated rate)."""
        if currency == "USD":
            return Decimal(1)
        return self.fx[d][currency]

    def fx_day(self, d: date) -> None:
        key = d.isoformat()
        if key in self.fx:
            return
        cadence = self.profile.rate_cadence
        walk = self.fx if cadence == "daily" else self.fx_walk
        prev = walk.get((d - timedelta(days=1)).isoformat())
        rng = random.Random(f"{self.seed}:fx:{key}")
        rates: dict[str, Decimal] = {}
        for cur in ("EUR", "GBP", "JPY"):
            base = Decimal(FX_START[cur]) if prev is None else prev[cur]
            step = Decimal(str(round(rng.gauss(0, 0.0035), 6)))
            start = Decimal(FX_START[cur])
            # pull gently back toward the start level so the walk stays plausible for years
            drift = (start - base) / start * Decimal("0.01")
            rates[cur] = money.round_half_away(base * (1 + step + drift), 6)
        if cadence == "daily":
            self.fx[key] = rates
            return
        walk[key] = rates
        walk.pop((d - timedelta(days=2)).isoformat(), None)
        if self.fx_entered(d):
            self.fx_effective.add(key)
            self.fx[key] = rates
        else:
            self.fx[key] = self.fx[(d - timedelta(days=1)).isoformat()]

    def fx_entered(self, d: date) -> bool:
        """Whether the finance team enters a rate effective on day d (never false on the
        history's first day: a rate is always in force)."""
        if self.profile.rate_cadence == "monthly":
            return d <= self.start or d.day == 1
        if self.start < d < self.fx_next_entry:
            return False
        gap = random.Random(f"{self.seed}:fx-entry:{d.isoformat()}").randint(1, 12)
        self.fx_next_entry = d + timedelta(days=gap)
        return True

    def ledger_add(self, table: dict[tuple[str, str], list[int]], t: int, cur: str, minor: int):
        d = _d(t)
        if cur == "USD":
            usd = minor
        else:
            usd = money.usd_cents_micro(minor, cur, money.micro_units(self.fx[d][cur]))
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

    # ------------------------------------------------------------------ CRM
    def new_account(self, created: int) -> dict[str, Any]:
        sub = self.rng.choices(SUBSIDIARIES, SUBSIDIARY_WEIGHTS)[0]
        country = self.rng.choice(sub.customer_countries)
        n = self.next_n("company")
        left = NAME_LEFT[n % len(NAME_LEFT)]
        right = NAME_RIGHT[(n // len(NAME_LEFT)) % len(NAME_RIGHT)]
        series = n // (len(NAME_LEFT) * len(NAME_RIGHT))
        base = f"{left} {right}" + (f" {series + 1}" if series else "")
        name = f"{base} {self.rng.choice(NAME_SUFFIX[country])}"
        domain = base.lower().replace(" ", "") + (".co.jp" if country == "JP" else ".com")
        acc_id = self.sfid("Account")
        ts = sf_datetime(created)
        row = {
            "Id": acc_id,
            "Name": name,
            "Type": self.profile.prospect_type(self.seed, acc_id),
            "Industry": self.rng.choice(INDUSTRIES),
            "Website": f"https://www.{domain}",
            "Phone": f"+1-555-{self.rng.randint(1000000, 9999999)}",
            "BillingStreet": f"{self.rng.randint(1, 999)} Market Street",
            "BillingCity": self.rng.choice(CITIES[country]),
            "BillingPostalCode": f"{self.rng.randint(10000, 99999)}",
            "BillingCountry": country,
            "NumberOfEmployees": int(self.rng.lognormvariate(4.5, 1.2)) + 5,
            "CurrencyIsoCode": sub.currency,
            "OwnerId": cached_sf_id(schema.CRM_KEY_PREFIX["User"], 1 + n % 7),
            "Tax_Id__c": f"{country}{self.rng.randint(10**8, 10**9 - 1)}",
            "IsDeleted": 0,
            "CreatedDate": ts,
            "LastModifiedDate": ts,
            "SystemModstamp": ts,
            "_sub": sub.key,
            "_domain": domain,
        }
        return row

    def new_opportunity(
        self, created: int, close: int, *, won: bool, cust: Customer | None = None
    ) -> None:
        account = (
            cust.account_row if cust else self.new_account(created - self.rng.randint(0, 30) * DAY)
        )
        currency = cust.currency if cust else account["CurrencyIsoCode"]
        if cust is None and account["_sub"] != "US" and self.rng.random() < 0.05:
            currency = "USD"  # a non-US entity that contracts in dollars
        opp_id = self.sfid("Opportunity")
        wire = cust.wire if cust else self.rng.random() < self.usage_share
        frequency = "Annual" if wire or self.rng.random() < 0.15 else "Monthly"
        term = 24 if self.rng.random() < 0.25 else 12
        terms = self.plan_terms(wire)
        ts = sf_datetime(created)
        opp = prospecting_opp(
            opp_id,
            account["Id"],
            f"{account['Name']} - " + ("Reactivation" if cust else "New Business"),
            "New Business",
            close,
            currency,
            ts,
            ts,
        )
        meta = {
            "row": opp,
            "account": account,
            "won": won,
            "cust": cust.n if cust else None,
            "terms": terms,
            "frequency": frequency,
            "term": term,
            "wire": wire,
            "currency": currency,
            "created": created,
            "close": close,
            "kind": "reactivation" if cust else "new",
        }
        self.open_opps[opp_id] = meta
        if cust is None:
            self.st.crm_row("Account", account)
        self.push(close, "opp_close", opp_id)

    def plan_terms(self, wire: bool) -> dict[str, int]:
        seats = int(self.rng.lognormvariate(2.8, 0.9)) + 3
        if wire:
            seats += 100
        terms = {"PLAT-SEAT": seats}
        if self.rng.random() < 0.35:
            terms["ADDON-ANALYTICS"] = max(1, seats // self.rng.choice((1, 2)))
        if wire or (seats > 80 and self.rng.random() < 0.5):
            terms["SUPPORT-ENTERPRISE"] = 1
        elif self.rng.random() < 0.2:
            terms["SUPPORT-PREMIUM"] = 1
        return terms

    def stage_for(self, meta: dict[str, Any], now: int) -> tuple[str, float, int]:
        created, close = meta["created"], meta["close"]
        frac = (now - created) / max(1, close - created)
        stages = (
            ("Prospecting", 10.0),
            ("Qualification", 20.0),
            ("Proposal/Price Quote", 50.0),
            ("Negotiation/Review", 80.0),
        )
        k = min(3, max(0, int(frac * 4)))
        changed = created + (close - created) * k // 4
        return stages[k][0], stages[k][1], changed

    def opp_amount(self, terms: dict[str, int], currency: str, frequency: str, term: int) -> int:
        interval = "year" if frequency == "Annual" else "month"
        periods = term // 12 if interval == "year" else term
        return sum(
            self.book.price_amount[(code, currency, interval)] * qty * periods
            for code, qty in terms.items()
        )

    def oli_rows(
        self, opp_id: str, terms: dict[str, int], currency: str, interval: str, t: int, start: str
    ) -> list[dict[str, Any]]:
        rows = []
        ts = sf_datetime(t)
        billed = "yearly" if interval == "year" else "monthly"
        for p in PRODUCTS:
            if p.code not in terms:
                continue
            unit = self.book.price_amount[(p.code, currency, interval)]
            qty = terms[p.code]
            rows.append(
                {
                    "Id": self.sfid("OpportunityLineItem"),
                    "OpportunityId": opp_id,
                    "Product2Id": cached_sf_id(schema.CRM_KEY_PREFIX["Product2"], p.n),
                    "PricebookEntryId": cached_sf_id(
                        schema.CRM_KEY_PREFIX["PricebookEntry"],
                        p.n * 10 + ("USD", "EUR", "GBP", "JPY").index(currency),
                    ),
                    "Name": p.name,
                    "Quantity": float(qty),
                    "UnitPrice": money.major_text(unit, currency),
                    "ListPrice": money.major_text(unit, currency),
                    "TotalPrice": money.major_text(unit * qty, currency),
                    "ServiceDate": start,
                    "Description": f"{p.name}, billed {billed}",
                    "IsDeleted": 0,
                    "CreatedDate": ts,
                    "LastModifiedDate": ts,
                    "SystemModstamp": ts,
                }
            )
        return rows

    def close_won_opp(
        self,
        opp: dict[str, Any],
        *,
        t: int,
        opp_type: str,
        contract: Contract,
        terms: dict[str, int],
        interval: str,
    ) -> None:
        ts = sf_datetime(t)
        opp.update(
            {
                "StageName": "Closed Won",
                "Type": opp_type,
                "ContractId": contract.id,
                "Probability": 100.0,
                "CloseDate": _d(t),
                "IsClosed": 1,
                "IsWon": 1,
                "Amount": money.major_text(
                    self.opp_amount(terms, contract.currency, contract.frequency, contract.term),
                    contract.currency,
                ),
                "LastModifiedDate": ts,
                "SystemModstamp": ts,
            }
        )
        self.st.crm_row("Opportunity", opp)
        for row in self.oli_rows(opp["Id"], terms, contract.currency, interval, t, contract.start):
            self.st.crm_row("OpportunityLineItem", row)

    def on_opp_close(self, t: int, opp_id: str) -> None:
        meta = self.open_opps.pop(opp_id)
        opp = meta["row"]
        if not meta["won"]:
            ts = sf_datetime(t)
            opp.update(
                {
                    "StageName": "Closed Lost",
                    "Probability": 0.0,
                    "IsClosed": 1,
                    "CloseDate": _d(t),
                    "LastModifiedDate": ts,
                    "SystemModstamp": ts,
                }
            )
            self.st.crm_row("Opportunity", opp)
            if self.rng.random() < 0.05:
                self.push(t + self.rng.randint(1, 60) * DAY, "crm_delete", opp)
            return
        if meta["kind"] == "reactivation":
            c = self.customers[meta["cust"]]
            if c.stripe_deleted or c.subs:
                # the customer was deleted in billing meanwhile or came back another way
                opp["StageName"] = "Closed Lost"
                opp.update({"IsClosed": 1, "Probability": 0.0, "CloseDate": _d(t)})
                opp["LastModifiedDate"] = opp["SystemModstamp"] = sf_datetime(t)
                self.st.crm_row("Opportunity", opp)
                return
        else:
            c = self.onboard_customer(meta, t)
        self.start_contract(c, meta, t, opp)

    def onboard_customer(self, meta: dict[str, Any], t: int) -> Customer:
        acc = meta["account"]
        n = self.next_n("customer")
        first, last = self.rng.choice(FIRST_NAMES), self.rng.choice(LAST_NAMES)
        c = Customer(
            n=n,
            account_id=acc["Id"],
            sub_key=acc["_sub"],
            country=acc["BillingCountry"],
            currency=meta["currency"],
            name=acc["Name"],
            email=f"billing@{acc['_domain']}",
            domain=acc["_domain"],
            tax_id=acc["Tax_Id__c"],
            city=acc["BillingCity"],
            street=acc["BillingStreet"],
            postal=acc["BillingPostalCode"],
            phone=acc["Phone"],
            industry=acc["Industry"],
            employees=acc["NumberOfEmployees"],
            account_row=acc,
            wire=meta["wire"],
        )
        self.customers[n] = c
        ts = sf_datetime(t)
        # the picklist value the org uses for customers (or, for a share of them in some
        # orgs, the old value nobody updated: only behaviour tells they are customers)
        new_type = self.profile.customer_type(self.seed, acc["Id"], acc["Type"])
        if new_type != acc["Type"]:
            acc.update({"Type": new_type, "LastModifiedDate": ts, "SystemModstamp": ts})
        for k in range(self.rng.randint(1, 3)):
            fn = first if k == 0 else self.rng.choice(FIRST_NAMES)
            ln = last if k == 0 else self.rng.choice(LAST_NAMES)
            self.st.crm_row(
                "Contact",
                {
                    "Id": self.sfid("Contact"),
                    "AccountId": c.account_id,
                    "FirstName": fn,
                    "LastName": ln,
                    "Name": f"{fn} {ln}",
                    "Email": f"{fn.lower()}.{ln.lower()}@{c.domain}",
                    "Title": self.rng.choice(TITLES),
                    "Phone": c.phone,
                    "IsDeleted": 0,
                    "CreatedDate": ts,
                    "LastModifiedDate": ts,
                    "SystemModstamp": ts,
                },
            )
        recent = t >= self.clock - RECENT
        legacy = t < self.clock - 180 * DAY
        fault = None
        if recent and not c.wire:
            for kind in ("billing", "erp", "sub"):
                if self.due("customer_" + kind):
                    fault = kind
                    break
            meta["sub_missing"] = fault == "sub"
        # Stripe customer (the billing sync creates it a minute after the win)
        if fault != "billing":
            c.stripe_id = self.sid("cus")
            c.stripe_created = self.at(t, 60)
            c.stripe_name = c.name
            c.invoice_prefix = c.stripe_id[4:12].upper()
            c.stripe_meta = not (legacy and self.share("legacy_billing", 0.02))
            self.event(c.stripe_created, "customer.created", lambda: customer_doc(c, self.profile))
        # ERP customer (the legacy integration copies the CRM account)
        if fault != "erp":
            c.erp_id = self.erp_id("customer")
            c.erp_created = c.erp_modified = self.latency(t)
            c.erp_name = c.name
            c.erp_extid = not (legacy and c.stripe_meta and self.share("legacy_erp", 0.02))
            if c.erp_extid and not fault and self.due("attribute"):
                c.erp_name = self.typo(c.name)
                c.attr_fault = True
                self.record_gt(
                    "customer_attribute_mismatch",
                    at=c.erp_created,
                    crm_id=c.account_id,
                    billing_id=c.stripe_id,
                    erp_id=c.erp_id,
                    field="companyname",
                    correct=c.name,
                    wrong=c.erp_name,
                )
        if fault == "billing":
            c.billing_missing_gt = self.record_gt(
                "customer_missing_in_billing",
                at=self.at(t, 60),
                crm_id=c.account_id,
                erp_id=c.erp_id,
            )
        elif fault == "erp":
            c.erp_missing_gt = self.record_gt(
                "customer_missing_in_erp",
                at=self.at(t, 300),
                crm_id=c.account_id,
                billing_id=c.stripe_id,
            )
        return c

    def typo(self, name: str) -> str:
        words = name.split(" ")
        w = words[0]
        if len(w) > 3:
            i = self.rng.randint(1, len(w) - 2)
            words[0] = w[:i] + w[i + 1] + w[i] + w[i + 2 :]
        else:
            words[0] = w + w[-1]
        out = " ".join(words)
        return out if out != name else name + "."

    def start_contract(
        self, c: Customer, meta: dict[str, Any], t: int, opp: dict[str, Any]
    ) -> None:
        interval = "year" if meta["frequency"] == "Annual" else "month"
        contract = self.new_contract(c, t, meta["term"], meta["frequency"], meta["terms"], True)
        self.close_won_opp(
            opp,
            t=t,
            opp_type="New Business",
            contract=contract,
            terms=meta["terms"],
            interval=interval,
        )
        if c.stripe_id is None:
            contract.sub_missing_gt = self.record_gt(
                "subscription_missing",
                at=self.at(t, 120),
                crm_id=contract.id,
                caused_by=c.billing_missing_gt,
            )
            return
        if meta.get("sub_missing"):
            contract.sub_missing_gt = self.record_gt(
                "subscription_missing", at=self.at(t, 120), crm_id=contract.id
            )
            return
        self.create_subscription(c, contract, self.at(t, 120), interval, meta["terms"])

    def new_contract(
        self,
        c: Customer,
        t: int,
        term: int,
        frequency: str,
        terms: dict[str, int],
        activate: bool,
        start: date | None = None,
    ) -> Contract:
        start = start or date_of(t)
        end = add_months(epoch_of(start), term) - DAY
        contract = Contract(
            id=self.sfid("Contract"),
            number=f"{self.next_n('contract_number'):08d}",
            account_id=c.account_id,
            cust=c.n,
            start=start.isoformat(),
            end=_d(end),
            term=term,
            frequency=frequency,
            currency=c.currency,
            activated_at=t if activate else 0,
            created=t,
            modified=t,
            status="Activated" if activate else "Draft",
            terms=dict(terms),
        )
        self.contracts[contract.id] = contract
        c.contracts.append(contract.id)
        return contract

    # ------------------------------------------------------------------ billing
    def create_subscription(
        self, c: Customer, contract: Contract, t: int, interval: str, terms: dict[str, int]
    ) -> None:
        months = 12 if interval == "year" else 1
        items = [
            SubItem(self.sid("si"), t, p.code, terms[p.code]) for p in PRODUCTS if p.code in terms
        ]
        s = Subscription(
            id=self.sid("sub"),
            cust=c.n,
            contract_id=contract.id,
            created=t,
            anchor=t,
            interval=interval,
            currency=c.currency,
            collection="send_invoice" if c.wire else "charge_automatically",
            items=items,
            contract_end=add_months(t, contract.term),
            cps=t,
            cpe=add_months(t, months),
        )
        self.subs[s.id] = s
        contract.sub_id = s.id
        c.subs.append(s.id)
        if c.stripe_deleted:
            c.stripe_deleted = False
        self.event(t, "customer.subscription.created", lambda: subscription_doc(s, c, self.book))
        lines = [self.sub_line(s, it, s.cps, s.cpe) for it in s.items]
        self.new_invoice(c, s, t, lines, "subscription_create", t, t)
        self.push(s.cpe, "renew", (s.id, s.version))
        self.push(s.contract_end - 45 * DAY, "decide", (s.id, s.version))
        if self.rng.random() < 0.35:
            self.push(t + int(self.rng.expovariate(1 / (240 * DAY))) + 20 * DAY, "amend", s.id)
        if self.rng.random() < 0.02:
            self.push(t + self.rng.randint(40, 300) * DAY, "cancel_now", (s.id, s.version))
        if c.wire and c.n not in self.usage_scheduled:
            self.usage_scheduled.add(c.n)
            first = date_of(t).replace(day=1)
            nxt = epoch_of((first + timedelta(days=32)).replace(day=1)) + 2 * 3600
            self.push(nxt, "usage", c.n)
            self.push(t + self.rng.randint(45, 80) * DAY, "wire", c.n)

    def sub_line(self, s: Subscription, it: SubItem, start: int, end: int) -> dict[str, Any]:
        price = self.book.price(it.code, s.currency, s.interval)
        p = PRODUCT_BY_CODE[it.code]
        unit = price["unit_amount"]
        per = "year" if s.interval == "year" else "month"
        at = self.fmt_price(unit, s.currency)
        return {
            "amount": unit * it.quantity,
            "description": f"{it.quantity} × {p.name} (at {at} / {per})",
            "start": start,
            "end": end,
            "price": price,
            "proration": False,
            "quantity": it.quantity,
            "subscription": s.id,
            "subscription_item": it.id,
            "invoice_item": None,
        }

    def fmt_price(self, unit: int, cur: str) -> str:
        sym = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}[cur]
        return f"{sym}{money.major_text(unit, cur)}"

    def new_invoice(
        self,
        c: Customer,
        s: Subscription | None,
        t: int,
        parts: list[dict[str, Any]],
        reason: str,
        period_start: int,
        period_end: int,
    ) -> Invoice:
        inv_id = self.sid("in")
        c.invoice_seq += 1
        blobs: list[bytes] = []
        meta: list[tuple[str, str, int, int, bool, int, int, str]] = []
        for part in parts:
            line_id = self.sid("il")
            blobs.append(
                dumps_bytes(
                    line_doc(
                        self.book,
                        line_id=line_id,
                        invoice_id=inv_id,
                        amount=part["amount"],
                        currency=c.currency,
                        description=part["description"],
                        start=part["start"],
                        end=part["end"],
                        price=part["price"],
                        proration=part["proration"],
                        quantity=part["quantity"],
                        subscription=part["subscription"],
                        subscription_item=part["subscription_item"],
                        invoice_item=part["invoice_item"],
                    )
                )
            )
            meta.append(
                (
                    line_id,
                    part["price"]["id"],
                    part["amount"],
                    part["quantity"],
                    part["proration"],
                    part["start"],
                    part["end"],
                    part["description"],
                )
            )
        collection = s.collection if s else "send_invoice"
        inv = Invoice(
            id=inv_id,
            cust=c.n,
            currency=c.currency,
            sub_id=s.id if s else None,
            created=t,
            finalized_at=t,
            number=f"{c.invoice_prefix}-{c.invoice_seq:04d}",
            billing_reason=reason,
            collection=collection,
            period_start=period_start,
            period_end=period_end,
            line_blobs=blobs,
            line_meta=meta,
            total=sum(m[2] for m in meta),
            due_date=t + 30 * DAY if collection == "send_invoice" else None,
            contract_id=s.contract_id if s else None,
        )
        self.invoices[inv.id] = inv
        if s:
            s.latest_invoice = inv.id
        self.ledger_add(self.ledger.billings, t, c.currency, inv.total)
        if t >= self.events_from:
            doc = invoice_doc(inv, c, self.profile)
            self.event(t, "invoice.created", doc)
            self.event(t, "invoice.finalized", doc)
        self.post_invoice(inv, c, t)
        if collection == "charge_automatically":
            inv.pi = self.sid("pi")
            inv.pi_created = t
            inv.pi_status = "requires_payment_method"
            self.push(t + self.rng.randint(5, 600), "attempt", inv.id)
        c.open_invoices.append(inv.id)
        return inv

    # ------------------------------------------------------------------ ERP postings
    def post_invoice(self, inv: Invoice, c: Customer, t: int) -> None:
        """Decide how the legacy integration posts this invoice (and inject faults)."""
        if c.erp_id is None:
            self.adopt_erp_customer(c)
        if c.erp_id is None:
            inv.erp_fault = "missing"
            inv.erp_gt = self.record_gt(
                "invoice_missing_in_erp",
                at=self.latency(t),
                billing_id=inv.id,
                caused_by=c.erp_missing_gt,
            )
            return
        inv.erp_created = inv.erp_modified = self.latency(t)
        kind = None
        if inv.collection == "charge_automatically":
            cross = inv.currency != SUBSIDIARY_BY_KEY[c.sub_key].currency and c.sub_key != "JP"
            if cross and self.due("invoice_currency"):
                kind = "currency"
            elif self.due("invoice"):
                kind = self.cycle("invoice", ("missing", "duplicate", "amount", "status"))
        if kind:
            inv.erp_fault = kind
            if kind == "missing":
                inv.erp_gt = self.record_gt(
                    "invoice_missing_in_erp", at=inv.erp_created, billing_id=inv.id
                )
                return
        inv.erp_id = self.erp_id("transaction")
        inv.erp_tranid = f"INV{self.next_n('tranid:inv'):07d}"
        if inv.erp_fault == "duplicate":
            inv.erp_dup_id = self.erp_id("transaction")
            # the duplicate has no externalid (NetSuite refuses a second one): it names its
            # Stripe invoice only where the integration writes the reference
            inv.erp_gt = self.record_gt(
                "invoice_duplicate_in_erp",
                at=min(inv.erp_created + 60, self.clock - 1),
                billing_id=inv.id,
                erp_id=inv.erp_dup_id,
                field=self.profile.invoice_reference_field,
                correct=None,
                wrong=invoice_reference(inv, self.profile),
            )
        elif inv.erp_fault == "amount":
            line = inv.line_meta[0][2]
            delta = (
                line
                if len(inv.line_meta) > 1 and self.rng.random() < 0.5
                else -(max(1, abs(inv.total) // 10))
            )
            inv.erp_wrong_total = inv.total + delta
            inv.erp_gt = self.record_gt(
                "invoice_amount_mismatch",
                at=inv.erp_created,
                billing_id=inv.id,
                erp_id=inv.erp_id,
                field="foreigntotal",
                correct=money.major_text(inv.total, inv.currency),
                wrong=money.major_text(inv.erp_wrong_total, inv.currency),
            )
        elif inv.erp_fault == "currency":
            inv.erp_wrong_currency = SUBSIDIARY_BY_KEY[c.sub_key].currency
            inv.erp_gt = self.record_gt(
                "invoice_currency_mismatch",
                at=inv.erp_created,
                billing_id=inv.id,
                erp_id=inv.erp_id,
                field="currency",
                correct=inv.currency,
                wrong=inv.erp_wrong_currency,
            )

    def post_payment(self, inv: Invoice, c: Customer, charge_id: str, t: int) -> None:
        """Post a succeeded charge as a CustPymt applied to its invoice (or not: faults)."""
        if c.erp_id is None:
            self.adopt_erp_customer(c)
        if c.erp_id is None:
            self.record_gt(
                "payment_missing_in_erp",
                at=self.latency(t),
                billing_id=charge_id,
                caused_by=c.erp_missing_gt,
            )
            return
        if inv.erp_id is None and self.advance_mode:
            self.adopt_erp_invoice(inv)
        if inv.erp_id is None:
            self.record_gt(
                "payment_missing_in_erp",
                at=self.latency(t),
                billing_id=charge_id,
                caused_by=inv.erp_gt,
            )
            return
        amount = inv.total
        if inv.erp_fault is None and self.due("payment"):
            kind = self.cycle("payment", ("missing", "amount"))
            inv.erp_fault = "payment_" + kind
            if kind == "missing":
                inv.erp_gt = self.record_gt(
                    "payment_missing_in_erp", at=self.latency(t), billing_id=charge_id
                )
                return
            fee = max(1, amount * self.rng.choice((1, 2, 3)) // 100)
            amount -= fee
        created = self.latency(t)
        pay_id = self.erp_id("transaction")
        if inv.erp_fault == "payment_amount":
            inv.erp_gt = self.record_gt(
                "payment_amount_mismatch",
                at=created,
                billing_id=charge_id,
                erp_id=pay_id,
                field="foreigntotal",
                correct=money.major_text(inv.total, inv.currency),
                wrong=money.major_text(amount, inv.currency),
            )
        # the integration keys the ERP payment by the charge or by its payment intent; the
        # ground truth names the charge either way (the payment recon reports)
        external = charge_id if self.profile.payment_key == "charge" or not inv.pi else inv.pi
        self.write_payment(
            c, pay_id, external, t, created, inv.currency, amount, [(inv, amount)], "Card"
        )
        inv.erp_paid = True
        inv.erp_modified = max(inv.erp_modified, created)

    def write_payment(
        self,
        c: Customer,
        pay_id: int,
        external: str,
        t: int,
        created: int,
        currency: str,
        amount: int,
        applied: list[tuple[Invoice, int]],
        memo: str,
    ) -> None:
        sub = SUBSIDIARY_BY_KEY[c.sub_key]
        xr = self.exchange_rate(currency, sub.currency, _d(t))
        tranid = f"PYMT{self.next_n('tranid:pay'):07d}"
        self.st.job(
            "erp",
            (
                "payment",
                c.erp_id,
                c.sub_key,
                pay_id,
                tranid,
                self.erp_id("transactionline"),
                external,
                t,
                created,
                currency,
                amount,
                xr,
                [(inv.erp_id, amt) for inv, amt in applied],
                memo,
            ),
        )

    def exchange_rate(self, currency: str, sub_currency: str, d: str) -> Decimal:
        """transaction.exchangerate: units of the subsidiary currency per transaction unit."""
        if currency == sub_currency:
            return Decimal(1)
        usd_per_tx = self.rate_on(d, currency)
        usd_per_sub = self.rate_on(d, sub_currency)
        return money.round_half_away(usd_per_tx / usd_per_sub, 6)

    def net_text(self, minor: int, currency: str, xr: Decimal, sub_currency: str) -> str:
        major = money.to_major(minor, currency) * xr
        places = money.EXPONENT[sub_currency]
        return str(money.round_half_away(major, places))

    def period_id(self, d: str) -> int:
        y, m = int(d[:4]), int(d[5:7])
        return (y - 2000) * 100 + m

    def adopt_erp_customer(self, c: Customer) -> None:
        """In `advance`: a reverse-ETL write may have created the missing ERP customer."""
        if not self.advance_mode:
            return
        rows = self.st.query("erp", "select id from customer where externalid = ?", (c.account_id,))
        row = rows[0] if rows else None
        if row:
            c.erp_id = int(row[0])
            c.erp_written = True
            c.erp_name = c.erp_name_written = c.name

    def adopt_erp_invoice(self, inv: Invoice) -> None:
        rows = self.st.query(
            "erp",
            "select id from \"transaction\" where type = 'CustInvc' and externalid = ?",
            (inv.id,),
        )
        row = rows[0] if rows else None
        if row:
            inv.erp_id = int(row[0])
            inv.erp_written = True

    # ------------------------------------------------------------------ payments
    def on_attempt(self, t: int, inv_id: str) -> None:
        inv = self.invoices.get(inv_id)
        if inv is None or inv.status != "open":
            return
        c = self.customers[inv.cust]
        s = self.subs.get(inv.sub_id) if inv.sub_id else None
        inv.attempt_count += 1
        first = inv.attempt_count == 1
        ok = self.rng.random() >= 0.06 if first else self.rng.random() < 0.65
        charge_id = self.sid("ch")
        prev_status = inv.status
        if ok:
            inv.status, inv.paid_at, inv.amount_paid = "paid", t, inv.total
            inv.charge, inv.pi_status, inv.pi_error, inv.next_attempt = (
                charge_id,
                "succeeded",
                None,
                None,
            )
            self.settle(inv, t)
            cdoc = self.write_charge(
                charge_id, t, inv.total, inv.currency, c.stripe_id, inv.id, inv.pi, True, None
            )
            self.ledger_add(self.ledger.collections, t, inv.currency, inv.total)
            if t >= self.events_from:
                self.event(t, "charge.succeeded", cdoc)
                self.event(t, "payment_intent.succeeded", lambda: payment_intent_doc(inv, c))
                self.event(
                    t,
                    "invoice.paid",
                    lambda: invoice_doc(inv, c, self.profile),
                    {"status": prev_status, "paid": False, "amount_paid": 0},
                )
            self.post_payment(inv, c, charge_id, t)
            if inv.erp_fault == "status":
                inv.erp_status_fault = True
                if inv.erp_paid:
                    inv.erp_gt = self.status_mismatch_gt(inv, t, correct="B")
                else:
                    inv.erp_status_fault = False
            self.failure_settled(s, c, t)
            if self.rng.random() < 0.015:
                self.push(
                    t + self.rng.randint(1, 20) * DAY,
                    "refund",
                    {
                        "charge": charge_id,
                        "created": t,
                        "amount": inv.total,
                        "currency": inv.currency,
                        "customer": c.stripe_id,
                        "invoice": inv.id,
                        "pi": inv.pi,
                    },
                )
            elif self.rng.random() < 0.015:
                self.push(t + self.rng.randint(2, 30) * DAY, "credit_note", inv.id)
            return
        code = self.rng.choice(("card_declined", "insufficient_funds", "expired_card"))
        inv.charge = charge_id
        inv.pi_error = {
            "charge": charge_id,
            "code": code,
            "decline_code": "generic_decline" if code == "card_declined" else None,
            "message": "Your card was declined.",
            "type": "card_error",
        }
        cdoc = self.write_charge(
            charge_id, t, inv.total, inv.currency, c.stripe_id, inv.id, inv.pi, False, code
        )
        if inv.attempt_count > len(RETRY_DAYS) and self.profile.unused(
            "invoice.status_transitions.marked_uncollectible_at"
        ):
            # this company never writes an invoice off as uncollectible: when the retries are
            # spent it cancels the subscription, which voids its open invoices (this one too)
            self.event(t, "charge.failed", cdoc)
            if s and s.status != "canceled":
                self.end_subscription(s, t, "payment_failed", immediate=True)
            if inv.status == "open":
                self.void_invoice(inv, t)
            return
        if inv.attempt_count > len(RETRY_DAYS):
            inv.status, inv.uncollectible_at, inv.next_attempt = "uncollectible", t, None
            self.settle(inv, t)
            if inv.erp_fault == "status":
                inv.erp_fault = None
            self.event(t, "charge.failed", cdoc)
            self.event(
                t,
                "invoice.marked_uncollectible",
                lambda: invoice_doc(inv, c, self.profile),
                {"status": "open"},
            )
            if s and s.status != "canceled":
                s.failing = max(0, s.failing - 1)
                self.end_subscription(s, t, "payment_failed", immediate=True)
            return
        inv.next_attempt = t + RETRY_DAYS[inv.attempt_count - 1] * DAY
        self.event(t, "charge.failed", cdoc)
        self.event(
            t,
            "invoice.payment_failed",
            lambda: invoice_doc(inv, c, self.profile),
            {"attempt_count": inv.attempt_count - 1},
        )
        if s and first:
            s.failing += 1
            if s.status == "active":
                s.status = "past_due"
                self.event(
                    t,
                    "customer.subscription.updated",
                    lambda: subscription_doc(s, c, self.book),
                    {"status": "active"},
                )
        if inv.attempt_count == 2 and self.rng.random() < 0.15:
            self.push(t + self.rng.randint(3600, 2 * DAY), "void", inv.id)
        else:
            self.push(inv.next_attempt, "attempt", inv.id)

    def status_mismatch_gt(self, inv: Invoice, t: int, *, correct: str) -> str:
        """Record that the ERP posting kept the invoice open ("A") though billing settled it."""
        return self.record_gt(
            "invoice_status_mismatch",
            at=self.latency(t),
            billing_id=inv.id,
            erp_id=inv.erp_id,
            field="status",
            correct=correct,
            wrong="A",
        )

    def write_charge(
        self,
        charge_id: str,
        created: int,
        amount: int,
        currency: str,
        customer: str | None,
        invoice: str,
        pi: str | None,
        succeeded: bool,
        failure_code: str | None,
        amount_refunded: int = 0,
    ) -> Callable[[], dict[str, Any]]:
        """Upsert a charge (the writer renders it); gives its document for events."""
        args = (
            charge_id,
            created,
            amount,
            currency,
            customer,
            invoice,
            pi,
            succeeded,
            failure_code,
            amount_refunded,
        )
        self.st.job("billing", ("charge", *args))
        return lambda: charge_doc_of(args)

    def settle(self, inv: Invoice, t: int) -> None:
        inv.settled_at = t
        c = self.customers[inv.cust]
        if inv.id in c.open_invoices:
            c.open_invoices.remove(inv.id)
        self.push(t + RETIRE_AFTER, "retire", inv.id)

    def on_void(self, t: int, inv_id: str) -> None:
        inv = self.invoices.get(inv_id)
        if inv is None or inv.status != "open":
            return
        self.void_invoice(inv, t)

    def void_invoice(self, inv: Invoice, t: int) -> None:
        c = self.customers[inv.cust]
        inv.status, inv.voided_at, inv.next_attempt = "void", t, None
        self.settle(inv, t)
        if inv.pi:
            inv.pi_status = "canceled"
        month = _d(inv.finalized_at)[:7]
        cell = self.ledger.billings[(month, inv.currency)]
        cell[0] -= inv.total
        cell[1] -= money.usd_cents(
            inv.total, inv.currency, self.rate_on(_d(inv.finalized_at), inv.currency)
        )
        self.event(
            t, "invoice.voided", lambda: invoice_doc(inv, c, self.profile), {"status": "open"}
        )
        if inv.erp_id is not None:
            inv.erp_modified = max(inv.erp_modified, self.latency(t))
        if inv.erp_fault == "status":
            inv.erp_status_fault = True
            inv.erp_gt = self.status_mismatch_gt(inv, t, correct="V")
        self.failure_settled(self.subs.get(inv.sub_id) if inv.sub_id else None, c, t)

    def failure_settled(self, s: Subscription | None, c: Customer, t: int) -> None:
        """An invoice settled (paid or voided): its subscription has one failing invoice fewer,
        and is active again when none is left."""
        if s and s.failing:
            s.failing -= 1
            if s.failing == 0 and s.status == "past_due":
                s.status = "active"
                self.event(
                    t,
                    "customer.subscription.updated",
                    lambda: subscription_doc(s, c, self.book),
                    {"status": "past_due"},
                )

    def on_wire(self, t: int, n: int) -> None:
        c = self.customers[n]
        due = [self.invoices[i] for i in c.open_invoices if i in self.invoices]
        due = [
            inv
            for inv in due
            if inv.status == "open" and inv.collection == "send_invoice" and inv.finalized_at < t
        ]
        if due:
            for inv in due:
                inv.status, inv.paid_at, inv.amount_paid = "paid", t, inv.total
                inv.paid_oob = True
                self.settle(inv, t)
                self.ledger_add(self.ledger.collections, t, inv.currency, inv.total)
                self.event(
                    t,
                    "invoice.paid",
                    lambda inv=inv: invoice_doc(inv, c, self.profile),
                    {"status": "open", "paid": False, "amount_paid": 0},
                )
            if c.erp_id is None:
                self.adopt_erp_customer(c)
            posted = [inv for inv in due if inv.erp_id is not None]
            if c.erp_id is not None and posted:
                created = self.latency(t)
                pay_id = self.erp_id("transaction")
                amount = sum(inv.total for inv in posted)
                self.write_payment(
                    c,
                    pay_id,
                    f"wire-{self.next_n('wire'):06d}",
                    t,
                    created,
                    c.currency,
                    amount,
                    [(inv, inv.total) for inv in posted],
                    f"Bank wire covering {len(posted)} invoices",
                )
                for inv in posted:
                    inv.erp_paid = True
                    inv.erp_modified = max(inv.erp_modified, created)
        if c.subs or c.open_invoices:
            self.push(t + self.rng.randint(45, 100) * DAY, "wire", n)

    def on_usage(self, t: int, n: int) -> None:
        c = self.customers[n]
        if not c.subs:
            return
        d = date_of(t)
        prev_month_start = epoch_of((d.replace(day=1) - timedelta(days=1)).replace(day=1))
        month_start = epoch_of(d.replace(day=1))
        price = self.book.price(USAGE_PRODUCT.code, c.currency, "one")
        parts = []
        for k in range(self.rng.randint(11, 15)):
            qty = self.rng.randint(20, 4000)
            parts.append(
                {
                    "amount": price["unit_amount"] * qty,
                    "description": f"API usage, project {k + 1:02d} ({qty} × 1,000 calls)",
                    "start": max(prev_month_start, c.stripe_created),
                    "end": month_start,
                    "price": price,
                    "proration": False,
                    "quantity": qty,
                    "subscription": None,
                    "subscription_item": None,
                    "invoice_item": self.sid("ii"),
                }
            )
        self.new_invoice(c, None, t, parts, "manual", t, t)
        nxt = (d.replace(day=1) + timedelta(days=32)).replace(day=1)
        self.push(epoch_of(nxt) + 2 * 3600, "usage", n)

    def on_refund(self, t: int, ch: dict[str, Any]) -> None:
        amount = ch["amount"] if self.rng.random() < 0.5 else max(1, ch["amount"] // 2)
        re_id = self.sid("re")
        self.st.billing_row(
            "refunds",
            {
                "id": re_id,
                "created": t,
                "charge": ch["charge"],
                "payment_intent": ch["pi"],
                "doc": refund_doc(
                    refund_id=re_id,
                    created=t,
                    amount=amount,
                    currency=ch["currency"],
                    charge=ch["charge"],
                    pi=ch["pi"],
                ),
            },
        )
        cdoc = self.write_charge(
            ch["charge"],
            ch["created"],
            ch["amount"],
            ch["currency"],
            ch["customer"],
            ch["invoice"],
            ch["pi"],
            True,
            None,
            amount,
        )
        self.event(t, "charge.refunded", cdoc, {"amount_refunded": 0, "refunded": False})
        self.ledger_add(self.ledger.refunds, t, ch["currency"], amount)

    def on_credit_note(self, t: int, inv_id: str) -> None:
        inv = self.invoices.get(inv_id)
        if inv is None or inv.status != "paid":
            return
        c = self.customers[inv.cust]
        if c.erp_id is None or inv.erp_id is None:
            return
        base = max(1, abs(inv.line_meta[0][2]))
        amount = max(1, min(inv.total, base * self.rng.choice((10, 25, 50)) // 100))
        cn_id = self.sid("cn")
        inv.cn_amount += amount
        doc = credit_note_doc(
            cn_id=cn_id,
            number=f"{inv.number}-CN-01",
            created=t,
            amount=amount,
            inv=inv,
            customer=c.stripe_id,
            line_ids=[self.sid("cnli")],
        )
        self.st.billing_row(
            "credit_notes",
            {"id": cn_id, "created": t, "customer": c.stripe_id, "invoice": inv.id, "doc": doc},
        )
        self.event(t, "credit_note.created", doc)
        self.ledger_add(self.ledger.credit_notes, t, inv.currency, amount)
        created = self.latency(t)
        sub = SUBSIDIARY_BY_KEY[c.sub_key]
        xr = self.exchange_rate(inv.currency, sub.currency, _d(t))
        cm_id = self.erp_id("transaction")
        self.st.erp_row(
            "transaction",
            {
                "id": cm_id,
                "tranid": f"CM{self.next_n('tranid:cm'):07d}",
                "type": "CustCred",
                "trandate": _d(t),
                "entity": c.erp_id,
                "currency": CURRENCY_ERP_ID[inv.currency],
                "exchangerate": float(xr),
                "foreigntotal": money.major_text(amount, inv.currency),
                "foreignamountunpaid": money.major_text(amount, inv.currency),
                "status": "A",
                "postingperiod": self.period_id(_d(t)),
                "externalid": cn_id,
                "otherrefnum": cn_id,
                "memo": f"Credit note for {inv.number} ({inv.id})",
                "voided": "F",
                "createddate": ns_datetime(created),
                "lastmodifieddate": ns_datetime(created),
            },
        )
        self.st.erp_row(
            "transactionline",
            {
                "uniquekey": self.erp_id("transactionline"),
                "id": 0,
                "transaction": cm_id,
                "linesequencenumber": 0,
                "mainline": "T",
                "taxline": "F",
                "foreignamount": money.major_text(amount, inv.currency),
                "netamount": self.net_text(amount, inv.currency, xr, sub.currency),
                "subsidiary": sub.erp_id,
                "entity": c.erp_id,
                "memo": "Service credit",
                "linelastmodifieddate": ns_datetime(created),
            },
        )

    def on_retire(self, t: int, inv_id: str) -> None:
        inv = self.invoices.pop(inv_id, None)
        if inv is not None:
            self.flush_invoice(inv)

    # ------------------------------------------------------------------ subscription life
    def on_renew(self, t: int, ref: tuple[str, int]) -> None:
        sub_id, version = ref
        s = self.subs.get(sub_id)
        if s is None or s.version != version or s.status == "canceled":
            return
        c = self.customers[s.cust]
        if s.cancel_at_period_end:
            self.end_subscription(s, s.cpe, "cancellation_requested", immediate=False)
            return
        prev_latest = s.latest_invoice
        if t >= s.contract_end:
            self.switch_contract(s, c, t)
        months = 12 if s.interval == "year" else 1
        old_start, old_end = s.cps, s.cpe
        s.period_index += 1
        s.cps = s.cpe
        s.cpe = add_months(s.anchor, months * (s.period_index + 1))
        parts = list(s.pending)
        s.pending = []
        parts += [self.sub_line(s, it, s.cps, s.cpe) for it in s.items]
        self.new_invoice(c, s, t, parts, "subscription_cycle", old_start, old_end)
        self.event(
            t,
            "customer.subscription.updated",
            lambda: subscription_doc(s, c, self.book),
            {
                "current_period_start": old_start,
                "current_period_end": old_end,
                "latest_invoice": prev_latest,
            },
        )
        self.push(s.cpe, "renew", (s.id, s.version))

    def switch_contract(self, s: Subscription, c: Customer, t: int) -> None:
        old = self.contracts.get(s.contract_id)
        nxt_id = self.next_contract.pop(s.id, None)
        nxt = self.contracts.get(nxt_id) if nxt_id else None
        if old is not None:
            old.status = "Expired"
            old.modified = t
        if nxt is None:
            # no renewal decision was taken (a faulted contract): evergreen on the old one
            s.contract_end = add_months(s.contract_end, old.term if old else 12)
            if old is not None:
                old.status = "Activated"
            return
        nxt.status, nxt.activated_at, nxt.modified = "Activated", t, t
        nxt.sub_id = s.id
        previous = s.contract_id
        s.contract_id = nxt.id
        s.contract_end = add_months(s.contract_end, nxt.term)
        self.event(
            t,
            "customer.subscription.updated",
            lambda: subscription_doc(s, c, self.book),
            {"metadata": {self.profile.subscription_link_key: previous}},
        )
        self.push(s.contract_end - 45 * DAY, "decide", (s.id, s.version))

    def on_decide(self, t: int, ref: tuple[str, int]) -> None:
        sub_id, _ = ref
        s = self.subs.get(sub_id)
        if s is None or s.status == "canceled" or s.faulted:
            return
        if t > s.contract_end or s.contract_end - t > 50 * DAY:
            return
        renew = self.rng.random() < (0.93 if s.interval == "year" else 0.92)
        if renew:
            close = s.contract_end - self.rng.randint(5, 30) * DAY
            self.push(max(t + 3600, close), "renewal_close", (s.id, t))
        else:
            self.push(s.contract_end - self.rng.randint(2, 25) * DAY, "churn_request", s.id)

    def on_renewal_close(self, t: int, ref: tuple[str, int]) -> None:
        sub_id, created = ref
        s = self.subs.get(sub_id)
        if s is None or s.status == "canceled":
            return
        c = self.customers[s.cust]
        old = self.contracts[s.contract_id]
        terms = {it.code: it.quantity for it in s.items}
        start = date_of(s.contract_end)
        contract = self.new_contract(c, t, old.term, old.frequency, terms, False, start=start)
        self.next_contract[s.id] = contract.id
        ts = sf_datetime(created)
        opp = prospecting_opp(
            self.sfid("Opportunity"),
            c.account_id,
            f"{c.name} - Renewal {start.year}",
            "Renewal",
            t,
            c.currency,
            ts,
            ts,
        )
        self.close_won_opp(
            opp, t=t, opp_type="Renewal", contract=contract, terms=terms, interval=s.interval
        )

    def on_churn_request(self, t: int, sub_id: str) -> None:
        s = self.subs.get(sub_id)
        if s is None or s.status == "canceled" or s.cancel_at_period_end:
            return
        c = self.customers[s.cust]
        s.cancel_at_period_end = True
        s.canceled_at = t
        s.cancel_reason = "cancellation_requested"
        self.event(
            t,
            "customer.subscription.updated",
            lambda: subscription_doc(s, c, self.book),
            {"cancel_at_period_end": False, "cancel_at": None, "canceled_at": None},
        )

    def on_cancel_now(self, t: int, ref: tuple[str, int]) -> None:
        s = self.subs.get(ref[0])
        if s is None or s.status == "canceled" or s.faulted:
            return
        self.end_subscription(s, t, "cancellation_requested", immediate=True)

    def end_subscription(self, s: Subscription, t: int, reason: str, *, immediate: bool) -> None:
        c = self.customers[s.cust]
        s.status = "canceled"
        s.ended_at = t
        if immediate or s.canceled_at is None:
            s.canceled_at = t
        s.cancel_reason = reason
        s.pending = []
        s.version += 1
        if immediate:
            for inv_id in list(c.open_invoices):
                inv = self.invoices.get(inv_id)
                if inv is not None and inv.sub_id == s.id and inv.status == "open":
                    self.void_invoice(inv, t)
        self.event(
            t, "customer.subscription.deleted", lambda: subscription_doc(s, c, self.book), None
        )
        contract = self.contracts.get(s.contract_id)
        if contract is not None:
            contract.status, contract.modified = "Expired", t
        nxt = self.next_contract.pop(s.id, None)
        if nxt and nxt in self.contracts:
            # the renewal that will never start
            self.contracts[nxt].status = "Expired"
            self.contracts[nxt].modified = t
        if s.id in c.subs:
            c.subs.remove(s.id)
        self.st.billing_row("subscriptions", self.sub_row(s, c))
        del self.subs[s.id]
        if not c.subs:
            c.churned_at = t
            r = self.rng.random()
            if r < 0.25:
                self.push(t + self.rng.randint(60, 300) * DAY, "reactivate", c.n)
            elif r < 0.35:
                self.push(t + self.rng.randint(20, 200) * DAY, "delete_customer", c.n)

    def on_reactivate(self, t: int, n: int) -> None:
        c = self.customers[n]
        if c.subs or c.stripe_deleted or c.stripe_id is None:
            return
        close = t + self.rng.randint(14, 60) * DAY
        self.new_opportunity(t, close, won=self.rng.random() < 0.7, cust=c)

    def on_delete_customer(self, t: int, n: int) -> None:
        c = self.customers[n]
        if c.subs or c.stripe_id is None or c.stripe_deleted:
            return
        if c.open_invoices:
            return
        c.stripe_deleted, c.stripe_deleted_at = True, t
        self.event(t, "customer.deleted", lambda: customer_doc(c, self.profile))

    def on_amend(self, t: int, sub_id: str) -> None:
        s = self.subs.get(sub_id)
        if s is None or s.status == "canceled":
            return
        if (
            s.status != "active"
            or s.faulted
            or s.cancel_at_period_end
            or (s.contract_end - t < 40 * DAY)
        ):
            self.push(t + self.rng.randint(30, 90) * DAY, "amend", sub_id)
            return
        c = self.customers[s.cust]
        contract = self.contracts[s.contract_id]
        old = {it.code: it.quantity for it in s.items}
        new = dict(old)
        seats = old.get("PLAT-SEAT", 1)
        if self.rng.random() < 0.7:
            opp_type = "Upsell"
            r = self.rng.random()
            if r < 0.6 or ("ADDON-ANALYTICS" in old and "SUPPORT-PREMIUM" in old):
                new["PLAT-SEAT"] = seats + max(1, seats * self.rng.randint(10, 50) // 100)
            elif "ADDON-ANALYTICS" not in old:
                new["ADDON-ANALYTICS"] = max(1, seats // 2)
            else:
                new["SUPPORT-PREMIUM"] = 1
        else:
            opp_type = "Downgrade"
            cut = max(1, seats * self.rng.randint(10, 30) // 100)
            if seats - cut < 1:
                self.push(t + 60 * DAY, "amend", sub_id)
                return
            new["PLAT-SEAT"] = seats - cut
        opp = prospecting_opp(
            self.sfid("Opportunity"),  # before the draw below, as the ids always were
            c.account_id,
            f"{c.name} - {opp_type} {_d(t)}",
            opp_type,
            t,
            c.currency,
            sf_datetime(t - self.rng.randint(3, 20) * DAY),
            sf_datetime(t),
        )
        self.close_won_opp(
            opp, t=t, opp_type=opp_type, contract=contract, terms=new, interval=s.interval
        )
        contract.terms = dict(new)
        eligible = (
            t >= self.clock - 90 * DAY
            and s.contract_end > self.clock + 120 * DAY
            and not c.wire
            and (s.contract_end - s.cpe) > 60 * DAY
        )
        if eligible and self.due("contract"):
            s.faulted = True
            code = (
                "PLAT-SEAT"
                if new.get("PLAT-SEAT") != old.get("PLAT-SEAT")
                else next(k for k in new if new[k] != old.get(k))
            )
            self.record_gt(
                "contract_subscription_mismatch",
                at=t + 600,
                crm_id=contract.id,
                billing_id=s.id,
                field=f"quantity:{code}",
                correct=new.get(code, 0),
                wrong=old.get(code, 0),
            )
            return
        self.apply_amendment(s, c, t, old, new)
        self.push(t + int(self.rng.expovariate(1 / (200 * DAY))) + 30 * DAY, "amend", sub_id)

    def apply_amendment(
        self, s: Subscription, c: Customer, t: int, old: dict[str, int], new: dict[str, int]
    ) -> None:
        prev_items = subscription_doc(s, c, self.book)["items"] if t >= self.events_from else None
        span = s.cpe - s.cps
        left = s.cpe - t
        parts = []
        downgrade_annual = s.interval == "year" and sum(
            self.book.price_amount[(k, s.currency, s.interval)] * v for k, v in new.items()
        ) < sum(self.book.price_amount[(k, s.currency, s.interval)] * v for k, v in old.items())
        for p in PRODUCTS:
            if new.get(p.code) == old.get(p.code):
                continue
            item = next((it for it in s.items if it.code == p.code), None)
            if item is None:
                item = SubItem(self.sid("si"), t, p.code, new[p.code])
                s.items.append(item)
                s.items.sort(key=lambda it: PRODUCT_BY_CODE[it.code].n)
            price = self.book.price(p.code, s.currency, s.interval)
            unit = price["unit_amount"]
            if not downgrade_annual:
                if old.get(p.code):
                    q = old[p.code]
                    parts.append(
                        self.proration(
                            s,
                            item,
                            price,
                            -money.div_round(unit * q * left, span),
                            q,
                            f"Unused time on {q} × {p.name} after {short_date(t)}",
                            t,
                        )
                    )
                q = new[p.code]
                parts.append(
                    self.proration(
                        s,
                        item,
                        price,
                        money.div_round(unit * q * left, span),
                        q,
                        f"Remaining time on {q} × {p.name} after {short_date(t)}",
                        t,
                    )
                )
            item.quantity = new[p.code]
        self.event(
            t,
            "customer.subscription.updated",
            lambda: subscription_doc(s, c, self.book),
            {"items": prev_items},
        )
        if not parts:
            return
        if s.interval == "year":
            self.new_invoice(c, s, t, parts, "subscription_update", t, t)
        else:
            s.pending.extend(parts)

    def proration(
        self,
        s: Subscription,
        item: SubItem,
        price: dict[str, Any],
        amount: int,
        qty: int,
        text: str,
        t: int,
    ) -> dict[str, Any]:
        return {
            "amount": amount,
            "description": text,
            "start": t,
            "end": s.cpe,
            "price": price,
            "proration": True,
            "quantity": qty,
            "subscription": s.id,
            "subscription_item": item.id,
            "invoice_item": self.sid("ii"),
        }

    # ------------------------------------------------------------------ CRM changes
    def on_rename(self, t: int, n: int) -> None:
        c = self.customers.get(n)
        if c is None or c.attr_fault or not c.erp_extid or not c.stripe_meta:
            return
        base, _, suffix = c.name.rpartition(" ")
        if not base:
            return
        new_name = (
            f"{base} Group {suffix}" if " Group " not in c.name else f"{base} Holdings {suffix}"
        )
        ts = sf_datetime(t)
        c.name = new_name
        c.account_row.update({"Name": new_name, "LastModifiedDate": ts, "SystemModstamp": ts})
        if c.stripe_id and not c.stripe_deleted:
            prev = c.stripe_name
            c.stripe_name = new_name
            self.event(
                self.at(t, 90),
                "customer.updated",
                lambda: customer_doc(c, self.profile),
                {"name": prev},
            )
        if c.erp_id is not None:
            if self.due("rename"):
                c.attr_fault = True
                self.record_gt(
                    "customer_attribute_mismatch",
                    at=self.latency(t),
                    crm_id=c.account_id,
                    billing_id=c.stripe_id,
                    erp_id=c.erp_id,
                    field="companyname",
                    correct=new_name,
                    wrong=c.erp_name,
                )
            else:
                c.erp_name = new_name
                c.erp_modified = self.latency(t)

    def delete_lost_opportunity(self, t: int) -> None:
        """Someone cleans up the CRM: a lost opportunity goes to the recycle bin."""
        where = '"StageName" = \'Closed Lost\' and "IsDeleted" = 0'
        n = self.st.query("crm", f'select count(*) from "Opportunity" where {where}')[0][0]
        if not n:
            return
        names = CRM_COLS["Opportunity"]
        cols = ", ".join(f'"{name}"' for name in names)
        found = self.st.query(
            "crm",
            f'select {cols} from "Opportunity" where {where} order by "Id" limit 1 offset ?',
            (self.rng.randrange(n),),
        )
        row = dict(zip(names, found[0], strict=True))
        self.on_crm_delete(t, row)

    def on_crm_delete(self, t: int, row: dict[str, Any]) -> None:
        ts = sf_datetime(t)
        row.update({"IsDeleted": 1, "LastModifiedDate": ts, "SystemModstamp": ts})
        self.st.crm_row("Opportunity", row)

    # ------------------------------------------------------------------ KPIs
    def item_mrr(self, s: Subscription) -> int:
        total = 0
        for it in s.items:
            unit = self.book.price_amount[(it.code, s.currency, s.interval)]
            total += (
                unit * it.quantity
                if s.interval == "month"
                else money.div_round(unit * it.quantity, 12)
            )
        return total

    def mrr_now(self) -> dict[int, int]:
        out: dict[int, int] = {}
        for s in self.subs.values():
            if s.status in ("active", "past_due"):
                out[s.cust] = out.get(s.cust, 0) + self.item_mrr(s)
        return {k: v for k, v in out.items() if v}

    def snapshot_values(self) -> tuple[dict[str, dict[str, int]], dict[int, int]]:
        cur_mrr = self.mrr_now()
        prev = self.ledger.mrr_prev
        metrics = {
            m: {c: 0 for c in money.CURRENCIES}
            for m in (
                "mrr",
                "mrr_new",
                "mrr_expansion",
                "mrr_contraction",
                "mrr_churn",
                "mrr_reactivation",
                "open_ar",
            )
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
        for inv in self.invoices.values():
            if inv.status == "open":
                metrics["open_ar"][inv.currency] += inv.total - inv.amount_paid
        return metrics, cur_mrr

    def month_snapshot(self, first_of_next: date) -> None:
        month = month_key(first_of_next - timedelta(days=1))
        metrics, cur_mrr = self.snapshot_values()
        self.ledger.snapshots[month] = metrics
        self.ledger.mrr_prev = cur_mrr
        self.ledger.mrr_ever |= set(cur_mrr)

    # ------------------------------------------------------------------ rows
    def sub_row(self, s: Subscription, c: Customer) -> dict[str, Any]:
        doc = subscription_doc(s, c, self.book)
        return {
            "id": s.id,
            "created": s.created,
            "customer": c.stripe_id,
            "status": s.status,
            "price": self.book.price_id[(s.items[0].code, s.currency, s.interval)]
            if s.items
            else None,
            "doc": doc,
        }

    def flush_invoice(self, inv: Invoice) -> None:
        """Write the invoice as it stands (the writer process renders its rows)."""
        c = self.customers[inv.cust]
        lines = not inv.lines_written
        inv.lines_written = True
        erp = self.write_erp_invoice(inv, c)
        if erp is not None:
            self.st.job("erp", ("erp_invoice", erp_invoice_snapshot(inv), *erp))
        self.st.job(
            "billing",
            ("invoice", invoice_snapshot(inv), c.stripe_id, c.email, c.stripe_name, lines),
            sum(len(b) for b in inv.line_blobs) + 2000,
        )

    def erp_status(self, inv: Invoice) -> tuple[str, int]:
        total = inv.erp_wrong_total if inv.erp_wrong_total is not None else inv.total
        if inv.status == "void":
            return ("A", total) if inv.erp_status_fault else ("V", 0)
        if inv.status == "paid" and inv.erp_paid and not inv.erp_status_fault:
            return "B", 0
        return "A", total

    def write_erp_invoice(self, inv: Invoice, c: Customer) -> tuple[Any, ...] | None:
        """Update a posted invoice in place, or give the job of its first posting."""
        if inv.erp_id is None:
            return None
        status, unpaid = self.erp_status(inv)
        currency = inv.erp_wrong_currency or inv.currency
        if inv.erp_written:
            if inv.erp_state == (status, unpaid):
                # nothing changed on our side: leave whatever the ERP API may have written
                return None
            inv.erp_state = (status, unpaid)
            self.st.execute(
                "erp",
                'update "transaction" set status = ?, foreignamountunpaid = ?, voided = ?,'
                " lastmodifieddate = ? where id = ?",
                (
                    status,
                    money.major_text(unpaid, inv.currency),
                    "T" if status == "V" else "F",
                    ns_datetime(inv.erp_modified),
                    inv.erp_id,
                ),
            )
            self.st.execute(
                "erp",
                "insert into _record_version (record_type, id, version) values ('invoice', ?, 2)"
                " on conflict (record_type, id) do update set version = version + 1",
                (inv.erp_id,),
            )
            return None
        inv.erp_written = True
        inv.erp_state = (status, unpaid)
        sub = SUBSIDIARY_BY_KEY[c.sub_key]
        d = _d(inv.finalized_at)
        xr = Decimal(1) if inv.erp_wrong_currency else self.exchange_rate(currency, sub.currency, d)
        dup_tranid = None
        n_docs = 1
        if inv.erp_dup_id is not None:
            dup_tranid = f"INV{self.next_n('tranid:inv'):07d}"
            n_docs = 2
        # the writer numbers the lines from here (main line + one per Stripe line, per document)
        uniquekey = self.erp_next.get("transactionline", 1)
        self.erp_next["transactionline"] = uniquekey + n_docs * (1 + len(inv.line_meta))
        return (c.erp_id, c.sub_key, xr, status, unpaid, uniquekey, dup_tranid, self.clock)
