"""Subscriptions over time: creation, renewal cycles, renewal contracts, amendments, churn."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sandbox.generator import money, mrr
from sandbox.generator.catalog import PRODUCT_BY_CODE, PRODUCTS
from sandbox.generator.daykey import day_key as _d
from sandbox.generator.lifecycle import prospecting_opp
from sandbox.generator.state import Contract, Customer, SubItem, Subscription
from sandbox.generator.stripe_docs import customer_doc, subscription_doc
from sandbox.generator.timeutil import DAY, add_months, date_of, epoch_of, sf_datetime, short_date


class SubscriptionMixin:
    """A Stripe subscription from its creation to its end, and the contracts that follow it.

    Combined into `sandbox.generator.engine.Simulation`, whose state, id helpers, fault
    accumulators and queue (`push`, `event`, `record_gt`, ...) its methods use.
    """

    # ------------------------------------------------------------------ creation
    def create_subscription(
        self, c: Customer, contract: Contract, t: int, interval: str, terms: dict[str, int]
    ) -> None:
        months = mrr.MONTHS[interval]
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
        per = {"year": "year", "quarter": "3 months"}.get(s.interval, "month")
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
        months = mrr.MONTHS[s.interval]
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
        # renewal books the ending contract's value (same term); any difference is the change
        base = self.contract_value(old)
        self.ledger_booking(
            t, c.currency, renewal=base, change=self.contract_value(contract) - base
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
        before = self.contract_value(contract)
        after = self.opp_amount(new, contract.currency, contract.frequency, contract.term)
        self.close_won_opp(
            opp,
            t=t,
            opp_type=opp_type,
            contract=contract,
            terms=new,
            interval=s.interval,
            # the company enters an amendment as the full new terms (total) or the change
            amount=after - before if self.profile.amendment_amount == "change" else None,
        )
        contract.terms = dict(new)
        self.ledger_booking(t, c.currency, change=after - before)
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
