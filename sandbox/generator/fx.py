"""FX: the daily market walk, the rates the finance team enters, and transaction rates."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

from sandbox.generator import money
from sandbox.generator.catalog import FX_START


class FxMixin:
    """Exchange rates: USD per unit of each currency per day, as the ERP applies them.

    Combined into `sandbox.generator.engine.Simulation`, whose state, id helpers, fault
    accumulators and queue (`push`, `event`, `record_gt`, ...) its methods use.
    """

    # ------------------------------------------------------------------ FX
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
        for cur in self.profile.fx_currencies:
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

    def exchange_rate(self, currency: str, sub_currency: str, d: str) -> Decimal:
        """transaction.exchangerate: units of the subsidiary currency per transaction unit."""
        if currency == sub_currency:
            return Decimal(1)
        usd_per_tx = self.rate_on(d, currency)
        usd_per_sub = self.rate_on(d, sub_currency)
        return money.round_half_away(usd_per_tx / usd_per_sub, 6)
