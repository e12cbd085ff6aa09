"""Rows the writer process renders from the simulation's compact jobs.

The simulation decides everything (ids, counters, exchange rates, statuses) and hands over a
job; turning it into Stripe documents and NetSuite rows is pure formatting, done here in the
writer process so that it runs on the second core. Each function gives exactly the rows the
simulation used to build itself.
"""

from __future__ import annotations

import operator
from collections import namedtuple
from decimal import Decimal
from typing import Any

import orjson

from sandbox import schema
from sandbox.generator import money
from sandbox.generator.catalog import CURRENCY_ERP_ID, SUBSIDIARY_BY_KEY
from sandbox.generator.state import Invoice
from sandbox.generator.stripe_docs import (
    PriceBook,
    charge_doc,
    invoice_doc,
    invoice_reference,
    payment_intent_doc,
)
from sandbox.generator.timeutil import DAY, iso_day, ns_datetime

ERP_COLS = {t: tuple(name for name, _ in fields) for t, fields in schema.ERP_FIELDS.items()}
_TXN_COLS = ERP_COLS["transaction"]
_LINK_COLS = ERP_COLS["previoustransactionlink"]
_TL_COLS = ERP_COLS["transactionline"]

Rows = dict[tuple[str, str], list[list[Any]]]

#: what the billing rows and documents read of an `Invoice` (a snapshot travels, not the
#: object: a tuple of plain values pickles fast and cannot change after it was queued)
INVOICE_FIELDS = (
    "amount_paid",
    "attempt_count",
    "billing_reason",
    "charge",
    "cn_amount",
    "collection",
    "contract_id",
    "created",
    "currency",
    "due_date",
    "finalized_at",
    "id",
    "line_blobs",
    "line_meta",
    "next_attempt",
    "number",
    "paid_at",
    "paid_oob",
    "period_end",
    "period_start",
    "pi",
    "pi_created",
    "pi_error",
    "pi_status",
    "pre_cn_amount",
    "status",
    "sub_id",
    "total",
    "uncollectible_at",
    "voided_at",
)
InvoiceView = namedtuple("InvoiceView", INVOICE_FIELDS)  # type: ignore[misc]
invoice_snapshot = operator.attrgetter(*INVOICE_FIELDS)
#: what the ERP posting reads of an `Invoice` (its job goes to the ERP's writer)
ERP_INVOICE_FIELDS = (
    "currency",
    "due_date",
    "erp_created",
    "erp_dup_id",
    "erp_id",
    "erp_modified",
    "erp_tranid",
    "erp_wrong_currency",
    "erp_wrong_total",
    "finalized_at",
    "id",
    "line_meta",
    "number",
    "total",
)
ErpInvoiceView = namedtuple("ErpInvoiceView", ERP_INVOICE_FIELDS)  # type: ignore[misc]
erp_invoice_snapshot = operator.attrgetter(*ERP_INVOICE_FIELDS)


def _d(t: int) -> str:
    return iso_day(t - t % DAY)


def net_text(minor: int, currency: str, xr: Decimal, sub_currency: str) -> str:
    """An amount in the subsidiary's currency at `xr`, as NetSuite's `netamount` text."""
    major = money.to_major(minor, currency) * xr
    places = money.EXPONENT[sub_currency]
    return str(money.round_half_away(major, places))


def period_id(d: str) -> int:
    """The `accountingperiod` id of a `YYYY-MM-DD` date's month."""
    y, m = int(d[:4]), int(d[5:7])
    return (y - 2000) * 100 + m


class CustomerView:
    """The customer fields the invoice and payment intent documents show."""

    __slots__ = ("email", "stripe_id", "stripe_name")

    def __init__(self, stripe_id: str | None, email: str, stripe_name: str) -> None:
        self.stripe_id = stripe_id
        self.email = email
        self.stripe_name = stripe_name


def _add(out: Rows, db: str, table: str, row: list[Any]) -> None:
    rows = out.get((db, table))
    if rows is None:
        rows = out[(db, table)] = []
    rows.append(row)


def invoice_rows(
    out: Rows,
    book: PriceBook,
    inv: Invoice,
    cust: CustomerView,
    lines: bool,
) -> None:
    """The invoice's billing rows: the invoice, its lines (once) and its payment intent."""
    _add(
        out,
        "billing",
        "invoices",
        [
            inv.id,
            inv.created,
            cust.stripe_id,
            inv.sub_id,
            inv.status,
            orjson.dumps(invoice_doc(inv, cust, book.profile)),  # type: ignore[arg-type]
        ],
    )
    if lines:
        for seq, (blob, m) in enumerate(zip(inv.line_blobs, inv.line_meta, strict=True)):
            _add(out, "billing", "invoice_lines", [inv.id, seq, m[0], blob])
    if inv.pi:
        _add(
            out,
            "billing",
            "payment_intents",
            [
                inv.pi,
                inv.pi_created,
                cust.stripe_id,
                inv.id,
                orjson.dumps(payment_intent_doc(inv, cust)),  # type: ignore[arg-type]
            ],
        )


def erp_invoice_rows(
    out: Rows,
    book: PriceBook,
    inv: Any,
    entity: int,
    sub_key: str,
    xr: Decimal,
    status: str,
    unpaid: int,
    uniquekey: int,
    dup_tranid: str | None,
    clock: int,
) -> None:
    """The first posting of an invoice: `CustInvc` (and its duplicate) with its lines."""
    sub = SUBSIDIARY_BY_KEY[sub_key]
    currency = inv.erp_wrong_currency or inv.currency
    d = _d(inv.finalized_at)
    total = inv.erp_wrong_total if inv.erp_wrong_total is not None else inv.total
    if inv.erp_wrong_currency:
        # the same number, read in the subsidiary's currency
        total_txt = money.major_text(inv.total, inv.currency)
        unpaid_txt = money.major_text(unpaid, inv.currency)
    else:
        total_txt = money.major_text(total, currency)
        unpaid_txt = money.major_text(unpaid, currency)
    docs: list[tuple[int, str, str | None, int, str, str]] = [
        (inv.erp_id or 0, inv.erp_tranid, inv.id, inv.erp_created, status, unpaid_txt)
    ]
    if inv.erp_dup_id is not None and dup_tranid is not None:
        docs.append(
            (
                inv.erp_dup_id,
                dup_tranid,
                None,
                min(inv.erp_created + 60, clock - 1),
                "A",
                total_txt,
            )
        )
    lines = [(None, None, None, total, inv.finalized_at, inv.finalized_at, None)]
    for k, (_, price_id, amount, qty, proration, start, end, text) in enumerate(inv.line_meta):
        if k == 0 and inv.erp_wrong_total is not None:
            amount += inv.erp_wrong_total - inv.total
        price = book.price_doc[price_id]
        item = book.item_of_product[price["product"]]
        rate = None if proration else price["unit_amount"]
        lines.append((item, qty, rate, amount, start, end - 1, text))
    # where the legacy integration names the Stripe invoice (the duplicate has nothing else)
    profile = book.profile
    reference = invoice_reference(inv, profile)
    if profile.invoice_reference_field == "otherrefnum":
        otherrefnum, memo_text = reference, f"Stripe invoice {inv.number}"
    else:
        otherrefnum, memo_text = None, reference
    same = xr == 1 or inv.erp_wrong_currency is not None
    cur, sub_cur = inv.currency, sub.currency
    txn_rows = out.setdefault(("erp", "transaction"), [])
    line_rows = out.setdefault(("erp", "transactionline"), [])
    for erp_id, tranid, external, created, st, unpaid_text in docs:
        modified = max(created, inv.erp_modified) if external else created
        row = {
            "id": erp_id,
            "tranid": tranid,
            "type": "CustInvc",
            "trandate": d,
            "duedate": _d(inv.due_date) if inv.due_date else d,
            "entity": entity,
            "currency": CURRENCY_ERP_ID[currency],
            "exchangerate": float(xr),
            "foreigntotal": total_txt,
            "foreignamountunpaid": unpaid_text,
            "status": st,
            "postingperiod": period_id(d),
            "externalid": external,
            "otherrefnum": otherrefnum,
            "memo": memo_text,
            "voided": "T" if st == "V" else "F",
            "createddate": ns_datetime(created),
            "lastmodifieddate": ns_datetime(modified),
        }
        txn_rows.append([row.get(c) for c in _TXN_COLS])
        line_modified = ns_datetime(created)
        for k, (item, qty, rate, amount, s0, s1, memo) in enumerate(lines):
            ftxt = money.major_text(amount, cur)
            line_rows.append(
                [
                    uniquekey,
                    k,
                    erp_id,
                    k,
                    "T" if k == 0 else "F",
                    "F",
                    item,
                    float(qty) if qty is not None else None,
                    money.major_text(rate, cur) if rate is not None else None,
                    ftxt,
                    ftxt if same else net_text(amount, cur, xr, sub_cur),
                    sub.erp_id,
                    entity,
                    memo,
                    _d(s0) if k else None,
                    _d(s1) if k else None,
                    line_modified,
                ]
            )
            uniquekey += 1


def payment_rows(
    out: Rows,
    entity: int,
    sub_key: str,
    pay_id: int,
    tranid: str,
    uniquekey: int,
    external: str,
    t: int,
    created: int,
    currency: str,
    amount: int,
    xr: Decimal,
    applied: list[tuple[int, int]],
    memo: str,
) -> None:
    """A `CustPymt`, its main line, and a link to each invoice it pays."""
    sub = SUBSIDIARY_BY_KEY[sub_key]
    d = _d(t)
    created_text = ns_datetime(created)
    row = {
        "id": pay_id,
        "tranid": tranid,
        "type": "CustPymt",
        "trandate": d,
        "duedate": None,
        "entity": entity,
        "currency": CURRENCY_ERP_ID[currency],
        "exchangerate": float(xr),
        "foreigntotal": money.major_text(amount, currency),
        "foreignamountunpaid": None,
        "status": "C",
        "postingperiod": period_id(d),
        "externalid": external,
        "otherrefnum": external,
        "memo": memo,
        "voided": "F",
        "createddate": created_text,
        "lastmodifieddate": created_text,
    }
    _add(out, "erp", "transaction", [row.get(c) for c in _TXN_COLS])
    line = {
        "uniquekey": uniquekey,
        "id": 0,
        "transaction": pay_id,
        "linesequencenumber": 0,
        "mainline": "T",
        "taxline": "F",
        "foreignamount": money.major_text(amount, currency),
        "netamount": net_text(amount, currency, xr, sub.currency),
        "subsidiary": sub.erp_id,
        "entity": entity,
        "memo": memo,
        "linelastmodifieddate": created_text,
    }
    _add(out, "erp", "transactionline", [line.get(c) for c in _TL_COLS])
    for inv_erp_id, amt in applied:
        link = {
            "previousdoc": inv_erp_id,
            "nextdoc": pay_id,
            "linktype": "Payment",
            "foreignamount": money.major_text(amt, currency),
            "lastmodifieddate": created_text,
        }
        _add(out, "erp", "previoustransactionlink", [link.get(c) for c in _LINK_COLS])


def charge_doc_of(args: tuple[Any, ...]) -> dict[str, Any]:
    """`stripe_docs.charge_doc` of (id, created, amount, currency, customer, invoice,
    payment_intent, succeeded, failure_code, amount_refunded)."""
    return charge_doc(
        charge_id=args[0],
        created=args[1],
        amount=args[2],
        currency=args[3],
        customer=args[4],
        invoice=args[5],
        payment_intent=args[6],
        succeeded=args[7],
        failure_code=args[8],
        amount_refunded=args[9],
    )


def render_jobs(book: PriceBook, jobs: list[tuple[Any, ...]]) -> Rows:
    """Rows of a batch of jobs, per (database, table), in job order."""
    out: Rows = {}
    make_invoice = InvoiceView._make
    make_erp_invoice = ErpInvoiceView._make
    for job in jobs:
        kind = job[0]
        if kind == "invoice":
            _, snapshot, stripe_id, email, stripe_name, lines = job
            invoice_rows(
                out,
                book,
                make_invoice(snapshot),
                CustomerView(stripe_id, email, stripe_name),
                lines,
            )
        elif kind == "erp_invoice":
            erp_invoice_rows(out, book, make_erp_invoice(job[1]), *job[2:])
        elif kind == "charge":
            # the arguments of stripe_docs.charge_doc, in order
            charge_id, created, _, _, customer, invoice, pi = job[1:8]
            doc = orjson.dumps(charge_doc_of(job[1:]))
            _add(out, "billing", "charges", [charge_id, created, customer, invoice, pi, doc])
        elif kind == "payment":
            payment_rows(out, *job[1:])
        else:
            raise ValueError(f"unknown job {kind!r}")
    return out
