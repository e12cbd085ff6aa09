"""A small hand-built billing.sqlite in the stored Stripe shape (2024-06-20), for API tests.

Independent of the generator: tests of the billing API (and early connector tests) can build a
known dataset in milliseconds and assert exact answers against it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import orjson

from sandbox import schema
from sandbox.ids import stripe_id

#: The simulated "now" written to manifest.json: 2025-06-01T00:00:00Z.
CLOCK = 1748736000
DAY = 86400


@dataclass
class BillingData:
    """Ids of what `build` wrote, newest-first where a list endpoint would return them."""

    customers: list[str] = field(default_factory=list)
    deleted_customers: list[str] = field(default_factory=list)
    products: list[str] = field(default_factory=list)
    prices: list[str] = field(default_factory=list)
    subscriptions: dict[str, str] = field(default_factory=dict)  # id -> status
    invoices: list[str] = field(default_factory=list)
    big_invoice: str = ""
    big_invoice_lines: list[str] = field(default_factory=list)
    charges: list[str] = field(default_factory=list)
    manual_invoice: str = ""  # no subscription; its customer is deleted
    refunds: list[str] = field(default_factory=list)
    credit_notes: list[str] = field(default_factory=list)
    events_recent: list[str] = field(default_factory=list)
    events_old: list[str] = field(default_factory=list)


def _price_doc(pid: str, product: str, currency: str, amount: int, created: int) -> dict[str, Any]:
    return {
        "id": pid,
        "object": "price",
        "active": True,
        "billing_scheme": "per_unit",
        "created": created,
        "currency": currency,
        "livemode": False,
        "lookup_key": None,
        "metadata": {},
        "nickname": None,
        "product": product,
        "recurring": {
            "aggregate_usage": None,
            "interval": "month",
            "interval_count": 1,
            "trial_period_days": None,
            "usage_type": "licensed",
        },
        "tax_behavior": "exclusive",
        "tiers_mode": None,
        "transform_quantity": None,
        "type": "recurring",
        "unit_amount": amount,
        "unit_amount_decimal": str(amount),
    }


def _line_doc(
    lid: str, invoice: str, sub: str | None, si: str | None, price: dict[str, Any], qty: int
) -> dict[str, Any]:
    amount = price["unit_amount"] * qty
    return {
        "id": lid,
        "object": "line_item",
        "amount": amount,
        "amount_excluding_tax": amount,
        "currency": price["currency"],
        "description": f"{qty} × seat",
        "discount_amounts": [],
        "discountable": True,
        "discounts": [],
        "invoice": invoice,
        "invoice_item": None if sub else f"ii_{lid[3:]}",
        "livemode": False,
        "metadata": {},
        "period": {"end": CLOCK - 5 * DAY, "start": CLOCK - 35 * DAY},
        "plan": None,
        "price": price,
        "proration": False,
        "proration_details": {"credited_items": None},
        "quantity": qty,
        "subscription": sub,
        "subscription_item": si,
        "tax_amounts": [],
        "tax_rates": [],
        "type": "subscription" if sub else "invoiceitem",
        "unit_amount_excluding_tax": str(price["unit_amount"]),
    }


def _invoice_doc(
    iid: str,
    customer: str,
    sub: str | None,
    status: str,
    created: int,
    currency: str,
    lines: list[dict[str, Any]],
    charge: str | None,
    pi: str | None,
) -> dict[str, Any]:
    total = sum(line["amount"] for line in lines)
    paid = status == "paid"
    return {
        "id": iid,
        "object": "invoice",
        "amount_due": total,
        "amount_paid": total if paid else 0,
        "amount_remaining": 0 if paid else total,
        "attempt_count": 1 if paid else 0,
        "attempted": paid,
        "billing_reason": "subscription_cycle" if sub else "manual",
        "charge": charge,
        "collection_method": "charge_automatically",
        "created": created,
        "currency": currency,
        "customer": customer,
        "due_date": None,
        "lines": {
            "object": "list",
            "data": lines[:10],
            "has_more": len(lines) > 10,
            "total_count": len(lines),
            "url": f"/v1/invoices/{iid}/lines",
        },
        "livemode": False,
        "metadata": {},
        "number": f"CL-{iid[-6:].upper()}",
        "paid": paid,
        "paid_out_of_band": False,
        "payment_intent": pi,
        "period_end": created,
        "period_start": created - 30 * DAY,
        "quote": None,
        "status": status,
        "status_transitions": {"paid_at": created + 3600 if paid else None},
        "subscription": sub,
        "subscription_details": {"metadata": {"crm_contract_id": "8005g0000000001AAA"}}
        if sub
        else None,
        "subtotal": total,
        "tax": None,
        "total": total,
        "total_tax_amounts": [],
    }


def _insert(con: Any, table: str, row: dict[str, Any]) -> None:
    cols = ", ".join(row)
    marks = ", ".join("?" * len(row))
    con.execute(f"insert into {table} ({cols}) values ({marks})", list(row.values()))


def _dump(doc: dict[str, Any]) -> str:
    return orjson.dumps(doc).decode()


def build(
    paths: schema.SandboxPaths,
    *,
    customers: int = 25,
    invoices: int = 30,
    big_invoice_lines: int = 25,
    seed: int = 7,
) -> BillingData:
    """Create the sandbox databases and fill billing.sqlite with a small known dataset.

    The dataset has `customers` customers (every fifth deleted, two sharing a `created`
    second to exercise the id tie-break), one USD and one JPY price, subscriptions in each
    status, `invoices` invoices plus one with `big_invoice_lines` lines, a charge and payment
    intent per paid invoice, and events inside and outside the 30-day window.

    Args:
        paths: Where to create the sandbox.
        customers: How many customers.
        invoices: How many ordinary invoices (2 lines each).
        big_invoice_lines: Lines of the one big invoice (more than 10 to test paging).
        seed: Seed of the ids.

    Returns:
        The ids written, newest first.
    """
    if customers < 2:
        raise ValueError("need at least 2 customers (one live, one deleted)")
    schema.create_all(paths)
    paths.manifest.write_text(json.dumps({"seed": seed, "scale": "test", "clock": CLOCK}))
    out = BillingData()
    con = schema.connect(paths.billing)
    try:
        base = CLOCK - 200 * DAY
        listed: list[tuple[int, str]] = []
        for n in range(customers):
            cid = stripe_id("cus", n, seed)
            # customers 3 and 4 share a second: order must fall back to id desc
            created = base + (n if n != 4 else 3) * 3600
            deleted = n % 5 == 0
            doc: dict[str, Any] = {
                "id": cid,
                "object": "customer",
                "address": None,
                "balance": 0,
                "created": created,
                "currency": "jpy" if n % 4 == 1 else "usd",
                "email": f"billing{n}@example{n % 3}.com",
                "livemode": False,
                "metadata": {"crm_account_id": f"0015g00000{n:05d}AAA"},
                "name": f"Customer {n}",
            }
            _insert(
                con,
                "customers",
                {
                    "id": cid,
                    "created": created,
                    "deleted": int(deleted),
                    "email": doc["email"],
                    "doc": _dump(doc),
                },
            )
            if deleted:
                out.deleted_customers.append(cid)
            else:
                listed.append((created, cid))
        out.customers = [cid for _, cid in sorted(listed, reverse=True)]

        prod = stripe_id("prod", 1, seed)
        old_prod = stripe_id("prod", 2, seed)
        for pid, created, active in ((prod, base, 1), (old_prod, base - DAY, 0)):
            doc = {
                "id": pid,
                "object": "product",
                "active": bool(active),
                "created": created,
                "default_price": None,
                "description": None,
                "livemode": False,
                "metadata": {},
                "name": "Platform Seat" if pid == prod else "Legacy",
                "type": "service",
                "updated": created,
            }
            _insert(
                con,
                "products",
                {"id": pid, "created": created, "active": active, "doc": _dump(doc)},
            )
        out.products = [prod, old_prod]
        usd = _price_doc(stripe_id("price", 1, seed), prod, "usd", 5000, base + 10)
        jpy = _price_doc(stripe_id("price", 2, seed), prod, "jpy", 335000, base + 20)
        for price in (usd, jpy):
            _insert(
                con,
                "prices",
                {
                    "id": price["id"],
                    "created": price["created"],
                    "product": prod,
                    "active": 1,
                    "currency": price["currency"],
                    "doc": _dump(price),
                },
            )
        out.prices = [jpy["id"], usd["id"]]

        statuses = ["active", "past_due", "canceled", "trialing", "active", "canceled", "unpaid"]
        subs: list[tuple[str, str, str]] = []  # id, customer, item
        for n, status in enumerate(statuses):
            sid = stripe_id("sub", n, seed)
            si = stripe_id("si", n, seed)
            customer = out.customers[n % len(out.customers)]
            price = jpy if n % 4 == 1 else usd
            created = base + 5 * DAY + n * 60
            doc = {
                "id": sid,
                "object": "subscription",
                "cancel_at_period_end": False,
                "canceled_at": created + DAY if status == "canceled" else None,
                "created": created,
                "currency": price["currency"],
                "current_period_end": CLOCK + 10 * DAY,
                "current_period_start": CLOCK - 20 * DAY,
                "customer": customer,
                "items": {
                    "object": "list",
                    "data": [
                        {
                            "id": si,
                            "object": "subscription_item",
                            "created": created,
                            "metadata": {},
                            "price": price,
                            "quantity": 3,
                            "subscription": sid,
                        }
                    ],
                    "has_more": False,
                    "total_count": 1,
                    "url": f"/v1/subscription_items?subscription={sid}",
                },
                "latest_invoice": None,
                "livemode": False,
                "metadata": {"crm_contract_id": f"8005g00000{n:05d}AAA"},
                "start_date": created,
                "status": status,
            }
            _insert(
                con,
                "subscriptions",
                {
                    "id": sid,
                    "created": created,
                    "customer": customer,
                    "status": status,
                    "price": price["id"],
                    "doc": _dump(doc),
                },
            )
            out.subscriptions[sid] = status
            subs.append((sid, customer, si))

        def add_invoice(n: int, n_lines: int, created: int, manual: bool = False) -> str:
            iid = stripe_id("in", n, seed)
            sid: str | None
            si: str | None
            sid, customer, si = subs[n % len(subs)]
            price = jpy if (n % len(subs)) % 4 == 1 else usd
            status = ("paid", "open", "void", "paid", "draft")[n % 5]
            if manual:
                # a one-off invoice of a customer deleted since: no subscription, paid, refunded
                sid, si, customer, status = None, None, out.deleted_customers[0], "paid"
            lines = [
                _line_doc(stripe_id("il", n * 1000 + k, seed), iid, sid, si, price, 1 + k % 3)
                for k in range(n_lines)
            ]
            charge = stripe_id("ch", n, seed) if status == "paid" else None
            pi = stripe_id("pi", n, seed) if status == "paid" else None
            doc = _invoice_doc(
                iid, customer, sid, status, created, price["currency"], lines, charge, pi
            )
            _insert(
                con,
                "invoices",
                {
                    "id": iid,
                    "created": created,
                    "customer": customer,
                    "subscription": sid,
                    "status": status,
                    "doc": _dump(doc),
                },
            )
            for seq, line in enumerate(lines):
                _insert(
                    con,
                    "invoice_lines",
                    {"invoice": iid, "seq": seq, "id": line["id"], "doc": _dump(line)},
                )
            if charge and pi:
                ch_doc: dict[str, Any] = {
                    "id": charge,
                    "object": "charge",
                    "amount": doc["total"],
                    "amount_refunded": 0,
                    "captured": True,
                    "created": created + 3600,
                    "currency": doc["currency"],
                    "customer": customer,
                    "invoice": iid,
                    "livemode": False,
                    "metadata": {},
                    "paid": True,
                    "payment_intent": pi,
                    "refunded": False,
                    "status": "succeeded",
                }
                pi_doc: dict[str, Any] = {
                    "id": pi,
                    "object": "payment_intent",
                    "amount": doc["total"],
                    "amount_received": doc["total"],
                    "created": created + 3500,
                    "currency": doc["currency"],
                    "customer": customer,
                    "invoice": iid,
                    "latest_charge": charge,
                    "livemode": False,
                    "metadata": {},
                    "status": "succeeded",
                }
                _insert(
                    con,
                    "charges",
                    {
                        "id": charge,
                        "created": created + 3600,
                        "customer": customer,
                        "invoice": iid,
                        "payment_intent": pi,
                        "doc": _dump(ch_doc),
                    },
                )
                _insert(
                    con,
                    "payment_intents",
                    {
                        "id": pi,
                        "created": created + 3500,
                        "customer": customer,
                        "invoice": iid,
                        "doc": _dump(pi_doc),
                    },
                )
                out.charges.append(charge)
            return iid

        out.manual_invoice = add_invoice(invoices + 1, 1, base + 9 * DAY, manual=True)
        out.invoices.append(out.manual_invoice)
        charge = out.charges[0]
        refund = stripe_id("re", 1, seed)
        credit_note = stripe_id("cn", 1, seed)
        pi = stripe_id("pi", invoices + 1, seed)
        created = base + 12 * DAY
        refund_doc: dict[str, Any] = {
            "id": refund,
            "object": "refund",
            "amount": 5000,
            "charge": charge,
            "created": created,
            "currency": "usd",
            "metadata": {},
            "payment_intent": pi,
            "reason": "requested_by_customer",
            "status": "succeeded",
        }
        _insert(
            con,
            "refunds",
            {
                "id": refund,
                "created": created,
                "charge": charge,
                "payment_intent": pi,
                "doc": _dump(refund_doc),
            },
        )
        cn_doc: dict[str, Any] = {
            "id": credit_note,
            "object": "credit_note",
            "amount": 5000,
            "created": created,
            "currency": "usd",
            "customer": out.deleted_customers[0],
            "invoice": out.manual_invoice,
            "metadata": {},
            "number": "CL-CN-0001",
            "reason": "product_unsatisfactory",
            "refund": refund,
            "status": "issued",
            "total": 5000,
            "type": "post_payment",
        }
        _insert(
            con,
            "credit_notes",
            {
                "id": credit_note,
                "created": created,
                "customer": out.deleted_customers[0],
                "invoice": out.manual_invoice,
                "doc": _dump(cn_doc),
            },
        )
        out.refunds = [refund]
        out.credit_notes = [credit_note]
        # ordinary invoices fit between day 10 and day 190 of the 200 days before the clock
        step = min(3 * DAY, 180 * DAY // max(invoices, 1))
        for n in range(invoices):
            out.invoices.append(add_invoice(n, 2, base + 10 * DAY + n * step))
        out.big_invoice = add_invoice(invoices, big_invoice_lines, CLOCK - DAY)
        out.invoices.append(out.big_invoice)
        out.big_invoice_lines = [
            stripe_id("il", invoices * 1000 + k, seed) for k in range(big_invoice_lines)
        ]
        out.invoices.reverse()
        out.charges.reverse()

        event_specs = [
            ("invoice.paid", CLOCK - 40 * DAY),
            ("customer.deleted", CLOCK - 31 * DAY),
            ("invoice.created", CLOCK - 29 * DAY),
            ("invoice.paid", CLOCK - 10 * DAY),
            ("customer.subscription.updated", CLOCK - 5 * DAY),
            ("invoice.voided", CLOCK - DAY),
        ]
        for n, (etype, created) in enumerate(event_specs):
            eid = stripe_id("evt", n, seed)
            doc = {
                "id": eid,
                "object": "event",
                "api_version": schema.STORED_STRIPE_VERSION,
                "created": created,
                "data": {"object": {"id": out.invoices[0], "object": "invoice"}},
                "livemode": False,
                "pending_webhooks": 0,
                "request": {"id": None, "idempotency_key": None},
                "type": etype,
            }
            _insert(
                con, "events", {"id": eid, "created": created, "type": etype, "doc": _dump(doc)}
            )
            (out.events_recent if created >= CLOCK - 30 * DAY else out.events_old).append(eid)
        out.events_recent.reverse()
        con.commit()
    finally:
        con.close()
    return out
