"""Billing documents: invoices, payment attempts, charges, wires, usage, refunds, credit notes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sandbox.generator import money, revenue
from sandbox.generator.catalog import USAGE_PRODUCT
from sandbox.generator.legacy_erp import _unit
from sandbox.generator.render import charge_doc_of, erp_invoice_snapshot, invoice_snapshot
from sandbox.generator.state import Customer, Invoice, Subscription
from sandbox.generator.store import dumps_bytes
from sandbox.generator.stripe_docs import (
    credit_note_doc,
    invoice_doc,
    line_doc,
    payment_intent_doc,
    refund_doc,
    subscription_doc,
)
from sandbox.generator.timeutil import DAY, date_of, epoch_of

RETRY_DAYS = (3, 5, 7)  # Stripe smart-retry-like schedule after the 1st, 2nd, 3rd failure
RETIRE_AFTER = 32 * DAY  # settled invoices stay in memory this long (credit notes come first)


class BillingDocsMixin:
    """Stripe's documents: billing owns invoice content; the ERP gets what the integration posts.

    Combined into `sandbox.generator.engine.Simulation`, whose state, id helpers, fault
    accumulators and queue (`push`, `event`, `record_gt`, ...) its methods use.
    """

    # ------------------------------------------------------------------ invoices
    def fmt_price(self, unit: int, cur: str) -> str:
        sym = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "KWD": "KD "}[cur]
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
        revenue.record_invoice(self.ledger, inv, self.fx)
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
            if (
                inv.attempt_count > 1
                and not inv.pre_cn_amount
                and self.profile.credits_before_retry(self.seed, inv.id)
            ):
                # the customer is credited part of the failed invoice the same day, before the
                # retry: the retry collects the rest (a payment partial against the total)
                self.issue_credit_note(inv, c, t - (t % DAY) // 2, pre_payment=True)
            due = inv.total - inv.pre_cn_amount
            inv.status, inv.paid_at, inv.amount_paid = "paid", t, due
            inv.charge, inv.pi_status, inv.pi_error, inv.next_attempt = (
                charge_id,
                "succeeded",
                None,
                None,
            )
            self.settle(inv, t)
            cdoc = self.write_charge(
                charge_id, t, due, inv.currency, c.stripe_id, inv.id, inv.pi, True, None
            )
            self.ledger_add(self.ledger.collections, t, inv.currency, due)
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
                        "amount": due,
                        "currency": inv.currency,
                        "customer": c.stripe_id,
                        "invoice": inv.id,
                        "pi": inv.pi,
                        "cust": c.n,
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
            # the write-off takes what the invoice still owed out of open AR, at its own rate
            owed = max(0, inv.total - inv.amount_paid - inv.cn_amount)
            self.ledger_add(self.ledger.ar_written_off, t, inv.currency, owed, inv.finalized_at)
            revenue.record_writeoff(self.ledger, inv.id, t)
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
        revenue.record_void(self.ledger, inv.id, t)
        self.settle(inv, t)
        if inv.pi:
            inv.pi_status = "canceled"
        # the void reverses the billing in the month it happens (the invoice's month keeps its
        # gross billing), at the rate the invoice was billed at
        self.ledger_add(self.ledger.billings_voided, t, inv.currency, inv.total, inv.finalized_at)
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
            self.post_wire(c, due, t)
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
        # the legacy integration posts it as a customer refund (a refund queued by a state
        # pickled before refunds were posted names no customer: found by its Stripe id)
        n = ch.get("cust")
        if n is None:
            n = next((k for k, c in self.customers.items() if c.stripe_id == ch["customer"]), None)
        cust = None if n is None else self.customers.get(n)
        self.post_refund(cust, re_id, ch["charge"], amount, ch["currency"], t)

    def on_credit_note(self, t: int, inv_id: str) -> None:
        inv = self.invoices.get(inv_id)
        if inv is None or inv.status != "paid":
            return
        self.issue_credit_note(inv, self.customers[inv.cust], t)

    def issue_credit_note(
        self, inv: Invoice, c: Customer, t: int, *, pre_payment: bool = False
    ) -> None:
        """A credit note on a paid invoice (post-payment, out of band), or on an open one
        before its payment (pre-payment: it lowers the amount due, `pre_cn_amount`)."""
        if c.erp_id is None or inv.erp_id is None:
            return
        base = max(1, abs(inv.line_meta[0][2]))
        if pre_payment:
            # the share of the amount: a hash of the invoice, not a draw of the simulation's RNG
            pct = (10, 25, 50)[int(_unit(self.seed, "prepayment_pct", inv.id) * 3)]
            amount = min(inv.total - 1, base * pct // 100)
            if amount < 1:
                return
            inv.pre_cn_amount += amount
        else:
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
            pre_payment=pre_payment,
        )
        self.st.billing_row(
            "credit_notes",
            {"id": cn_id, "created": t, "customer": c.stripe_id, "invoice": inv.id, "doc": doc},
        )
        self.event(t, "credit_note.created", doc)
        self.ledger_add(self.ledger.credit_notes, t, inv.currency, amount)
        revenue.record_credit(self.ledger, cn_id, inv.id, amount, t)
        self.post_credit_note(c, inv, cn_id, amount, t, applied=pre_payment)

    def on_retire(self, t: int, inv_id: str) -> None:
        inv = self.invoices.pop(inv_id, None)
        if inv is not None:
            self.flush_invoice(inv)

    # ------------------------------------------------------------------ rows
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
