"""The faulty legacy ERP integration: what it posts to NetSuite, and the faults it injects."""

from __future__ import annotations

import zlib
from decimal import Decimal
from typing import Any

from sandbox.generator import money
from sandbox.generator.catalog import CURRENCY_ERP_ID, SUBSIDIARY_BY_KEY
from sandbox.generator.daykey import day_key as _d
from sandbox.generator.state import Customer, Invoice
from sandbox.generator.stripe_docs import invoice_reference
from sandbox.generator.timeutil import ns_datetime

#: The cash and credit faults (issue 13), each a share of its eligible records as a multiple of
#: the discrepancy rate: refunds and credit notes are rare (about 1.5% of paid invoices each),
#: card payments are most records, so a `small` sandbox gets a handful of each type.
CASH_FAULTS = {
    "refund_missing": 3.0,
    "credit_note_missing": 3.0,
    "payment_unapplied": 0.035,
    "payment_duplicate": 0.035,
}


def _unit(seed: int, salt: str, key: str) -> float:
    """A number in [0, 1) fixed by (seed, salt, key): no draw from the simulation's RNG."""
    return zlib.crc32(f"{seed}:{salt}:{key}".encode()) / 2**32


class LegacyErpMixin:
    """Customers, invoices, payments and credit memos as the legacy integration posts them, late
    and at the discrepancy rate wrong, each fault recorded in the ground truth.

    Combined into `sandbox.generator.engine.Simulation`, whose state, id helpers, fault
    accumulators and queue (`push`, `event`, `record_gt`, ...) its methods use.
    """

    # ------------------------------------------------------------------ timing and faults
    def latency(self, t: int) -> int:
        """When the legacy integration posts something that happened at t (before the clock)."""
        r = self.rng.random()
        lag = self.rng.randint(60, 1800) if r < 0.8 else self.rng.randint(1800, 5 * 3600)
        out = t + lag
        if out >= self.clock:
            out = t + max(1, (self.clock - t) // 2)
        return out

    def quiet_latency(self, t: int, ref: str) -> int:
        """`latency` without a draw from the simulation's RNG (a posting added by the cash and
        credit faults must leave the rest of the history as it was): 1 to 30 minutes."""
        out = t + 60 + int(_unit(self.seed, "lag", ref) * 1740)
        if out >= self.clock:
            out = t + max(1, (self.clock - t) // 2)
        return out

    def cash_fault(self, key: str, ref: str) -> bool:
        """Whether this record gets the cash or credit fault `key` (`CASH_FAULTS`): an
        accumulator as `share` (the first eligible record is faulted), jittered by a hash of
        the record instead of the simulation's RNG, so no other decision of the history moves."""
        p = self.rate * CASH_FAULTS[key]
        if p <= 0:
            return False
        acc = self.fault_acc.get("cash:" + key, 1.0 - p * 0.5)
        acc += p * (0.5 + _unit(self.seed, key, ref))
        hit = acc >= 1.0
        self.fault_acc["cash:" + key] = acc - 1.0 if hit else acc
        return hit

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

    def status_mismatch_gt(self, inv: Invoice, t: int, *, correct: str) -> str:
        """Record that the ERP posting kept the invoice open ("A") though billing settled it."""
        return self.record_gt(
            "invoice_status_mismatch",
            at=self.latency(t),
            entered=t,
            billing_id=inv.id,
            erp_id=inv.erp_id,
            field="status",
            correct=correct,
            wrong="A",
        )

    # ------------------------------------------------------------------ ERP postings
    def post_customer(self, c: Customer, t: int, *, legacy: bool, faulted: bool) -> None:
        """Copy a new CRM account to an ERP customer (a legacy one may lack its external id; a
        customer not already faulted may get a misspelt name)."""
        c.erp_id = self.erp_id("customer")
        c.erp_created = c.erp_modified = self.latency(t)
        c.erp_name = c.name
        c.erp_extid = not (legacy and c.stripe_meta and self.share("legacy_erp", 0.02))
        if c.erp_extid and not faulted and self.due("attribute"):
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

    def post_invoice(self, inv: Invoice, c: Customer, t: int) -> None:
        """Decide how the legacy integration posts this invoice (and inject faults)."""
        if c.erp_id is None:
            self.adopt_erp_customer(c)
        if c.erp_id is None:
            inv.erp_fault = "missing"
            inv.erp_gt = self.record_gt(
                "invoice_missing_in_erp",
                at=self.latency(t),
                entered=t,
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
                    "invoice_missing_in_erp", at=inv.erp_created, billing_id=inv.id, entered=t
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
                entered=t,
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
                entered=t,
                billing_id=charge_id,
                caused_by=inv.erp_gt,
            )
            return
        # what the charge collected: the total less a credit note issued before the payment
        amount = inv.total - inv.pre_cn_amount
        if inv.erp_fault is None and self.due("payment"):
            kind = self.cycle("payment", ("missing", "amount"))
            inv.erp_fault = "payment_" + kind
            if kind == "missing":
                inv.erp_gt = self.record_gt(
                    "payment_missing_in_erp", at=self.latency(t), entered=t, billing_id=charge_id
                )
                return
            fee = max(1, amount * self.rng.choice((1, 2, 3)) // 100)
            amount -= fee
        created = self.latency(t)
        pay_id = self.erp_id("transaction")
        clean = inv.erp_fault is None
        # unapplied cash: the integration posts the payment but applies it to no invoice
        unapplied = clean and self.cash_fault("payment_unapplied", charge_id)
        if unapplied:
            self.record_gt(
                "payment_unapplied_in_erp",
                at=created,
                billing_id=charge_id,
                erp_id=pay_id,
                field="applied",
                correct=money.major_text(amount, inv.currency),
                wrong=money.major_text(0, inv.currency),
            )
        if inv.erp_fault == "payment_amount":
            inv.erp_gt = self.record_gt(
                "payment_amount_mismatch",
                at=created,
                billing_id=charge_id,
                erp_id=pay_id,
                field="foreigntotal",
                correct=money.major_text(inv.total - inv.pre_cn_amount, inv.currency),
                wrong=money.major_text(amount, inv.currency),
            )
        # the integration keys the ERP payment by the charge or by its payment intent; the
        # ground truth names the charge either way (the payment recon reports)
        external = charge_id if self.profile.payment_key == "charge" or not inv.pi else inv.pi
        self.write_payment(
            c,
            pay_id,
            external,
            t,
            created,
            inv.currency,
            amount,
            [] if unapplied else [(inv, amount)],
            "Card",
        )
        if unapplied:
            return
        inv.erp_paid = True
        inv.erp_modified = max(inv.erp_modified, created)
        if clean and self.cash_fault("payment_duplicate", charge_id):
            self.post_duplicate_payment(c, inv, charge_id, external, t, created, amount)

    def post_duplicate_payment(
        self, c: Customer, inv: Invoice, charge_id: str, external: str, t: int, created: int,
        amount: int,
    ) -> None:  # fmt: skip
        """A retry posts the card payment a second time. NetSuite refuses the externalid twice,
        so the copy carries the Stripe reference only in `otherrefnum`; the invoice is already
        paid, so it stays unapplied."""
        dup_id = self.erp_id("transaction")
        at = min(created + 60 + int(_unit(self.seed, "dup", charge_id) * 600), self.clock - 1)
        sub = SUBSIDIARY_BY_KEY[c.sub_key]
        xr = self.exchange_rate(inv.currency, sub.currency, _d(t))
        self.record_gt(
            "payment_duplicate_in_erp",
            at=at,
            billing_id=charge_id,
            erp_id=dup_id,
            field="otherrefnum",
            correct=None,
            wrong=external,
        )
        self.write_erp_document(
            c,
            dup_id,
            "CustPymt",
            f"PYMT{self.next_n('tranid:pay'):07d}",
            t,
            at,
            inv.currency,
            amount,
            xr,
            {"externalid": None, "otherrefnum": external, "memo": "Card", "status": "C"},
        )

    def post_wire(self, c: Customer, paid: list[Invoice], t: int) -> None:
        """Post a bank wire as one CustPymt applied to those of its invoices the ERP holds."""
        if c.erp_id is None:
            self.adopt_erp_customer(c)
        posted = [inv for inv in paid if inv.erp_id is not None]
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

    def post_credit_note(
        self, c: Customer, inv: Invoice, cn_id: str, amount: int, t: int, *, applied: bool = False
    ) -> None:
        """Post a Stripe credit note as a CustCred with its main line (`applied`: a credit
        before payment, applied to its invoice, which the payment then settles in part)."""
        created = self.latency(t)
        if self.cash_fault("credit_note_missing", cn_id):
            self.record_gt("credit_note_missing_in_erp", at=created, entered=t, billing_id=cn_id)
            return
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
                "foreignamountunpaid": money.major_text(0 if applied else amount, inv.currency),
                "status": "B" if applied else "A",
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
        if applied:
            self.st.erp_row(
                "previoustransactionlink",
                {
                    "previousdoc": inv.erp_id,
                    "nextdoc": cm_id,
                    "linktype": "Credit Memo",
                    "foreignamount": money.major_text(amount, inv.currency),
                    "lastmodifieddate": ns_datetime(created),
                },
            )

    def post_refund(
        self, c: Customer | None, refund_id: str, charge_id: str, amount: int, currency: str,
        t: int,
    ) -> None:  # fmt: skip
        """Post a Stripe refund as a NetSuite customer refund (`customerrefund`, SuiteQL type
        `CustRfnd`) keyed by the refund id, or not (fault)."""
        if c is not None and c.erp_id is None:
            self.adopt_erp_customer(c)
        created = self.quiet_latency(t, refund_id)
        if c is None or c.erp_id is None:
            self.record_gt(
                "refund_missing_in_erp",
                at=created,
                entered=t,
                billing_id=refund_id,
                caused_by=None if c is None else c.erp_missing_gt,
            )
            return
        if self.cash_fault("refund_missing", refund_id):
            self.record_gt("refund_missing_in_erp", at=created, entered=t, billing_id=refund_id)
            return
        sub = SUBSIDIARY_BY_KEY[c.sub_key]
        self.write_erp_document(
            c,
            self.erp_id("transaction"),
            "CustRfnd",
            f"RFND{self.next_n('tranid:rfnd'):07d}",
            t,
            created,
            currency,
            amount,
            self.exchange_rate(currency, sub.currency, _d(t)),
            {"externalid": refund_id, "otherrefnum": refund_id, "memo": f"Refund of {charge_id}"},
        )

    def write_erp_document(
        self,
        c: Customer,
        tran_id: int,
        ttype: str,
        tranid: str,
        t: int,
        created: int,
        currency: str,
        amount: int,
        xr: Decimal,
        fields: dict[str, Any],
    ) -> None:
        """A header and its main line, applied to nothing (customer refunds, duplicates)."""
        sub = SUBSIDIARY_BY_KEY[c.sub_key]
        self.st.erp_row(
            "transaction",
            {
                "id": tran_id,
                "tranid": tranid,
                "type": ttype,
                "trandate": _d(t),
                "entity": c.erp_id,
                "currency": CURRENCY_ERP_ID[currency],
                "exchangerate": float(xr),
                "foreigntotal": money.major_text(amount, currency),
                "postingperiod": self.period_id(_d(t)),
                "voided": "F",
                "createddate": ns_datetime(created),
                "lastmodifieddate": ns_datetime(created),
                **fields,
            },
        )
        self.st.erp_row(
            "transactionline",
            {
                "uniquekey": self.erp_id("transactionline"),
                "id": 0,
                "transaction": tran_id,
                "linesequencenumber": 0,
                "mainline": "T",
                "taxline": "F",
                "foreignamount": money.major_text(amount, currency),
                "netamount": self.net_text(amount, currency, xr, sub.currency),
                "subsidiary": sub.erp_id,
                "entity": c.erp_id,
                "memo": fields.get("memo"),
                "linelastmodifieddate": ns_datetime(created),
            },
        )

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

    # ------------------------------------------------------------------ rows
    def erp_status(self, inv: Invoice) -> tuple[str, int]:
        total = inv.erp_wrong_total if inv.erp_wrong_total is not None else inv.total
        if inv.status == "void":
            return ("A", total) if inv.erp_status_fault else ("V", 0)
        if inv.status == "paid" and inv.erp_paid and not inv.erp_status_fault:
            return "B", 0
        return "A", total - inv.pre_cn_amount

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
