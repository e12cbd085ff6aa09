"""Stripe API objects as version 2024-06-20 renders them, built from the simulation state."""

from __future__ import annotations

from typing import Any

import orjson

from sandbox.generator import mrr
from sandbox.generator.catalog import KWD_PRICES, PRODUCTS, Product
from sandbox.generator.profile import CLASSIC, Profile
from sandbox.generator.state import Customer, Invoice, Subscription
from sandbox.ids import stripe_id


class PriceBook:
    """Stripe products and prices of the catalogue (ids are stable for a seed), and the
    profile whose conventions the documents follow."""

    #: a book pickled before profiles existed renders the classic company
    profile: Profile = CLASSIC

    def __init__(self, seed: int, created: int, profile: Profile = CLASSIC) -> None:
        self.created = created
        self.profile = profile
        self.product_id: dict[str, str] = {}
        self.product_doc: dict[str, dict[str, Any]] = {}
        self.price_id: dict[tuple[str, str, str], str] = {}
        self.price_doc: dict[str, dict[str, Any]] = {}
        self.price_amount: dict[tuple[str, str, str], int] = {}
        self.item_of_product: dict[str, int] = {}  # Stripe product id -> NetSuite item id
        # serialized once: every line item and subscription item embeds these objects
        self.price_json: dict[str, bytes] = {}
        self.plan_json: dict[str, bytes] = {}
        for p in PRODUCTS:
            pid = stripe_id("prod", p.n, seed)
            self.product_id[p.code] = pid
            self.item_of_product[pid] = p.n
            self.product_doc[p.code] = _product_doc(p, pid, created, profile.product_code_key)
        # prices numbered product by product; a profile's extra currency (KWD) comes last, so
        # the other prices keep their ids
        offers = [(p, cur, amounts) for p in PRODUCTS for cur, amounts in p.prices.items()]
        if "KWD" in profile.currencies:
            offers += [(p, "KWD", KWD_PRICES[p.code]) for p in PRODUCTS]
        n = 0
        for p, cur, (monthly, annual) in offers:
            pid = self.product_id[p.code]
            variants = [("month", monthly), ("year", annual)] if p.recurring else [("one", monthly)]
            for interval, amount in variants:
                n += 1
                price = stripe_id("price", n, seed)
                self.price_id[(p.code, cur, interval)] = price
                self.price_amount[(p.code, cur, interval)] = amount
                doc = _price_doc(price, pid, cur, interval, amount, created)
                self.price_doc[price] = doc
                self.price_json[price] = orjson.dumps(doc)
                self.plan_json[price] = orjson.dumps(_plan(doc))
        if profile.quarterly_share > 0:
            self._add_quarterly(seed, created, profile)

    def _add_quarterly(self, seed: int, created: int, profile: Profile) -> None:
        """Quarterly prices (month x 3, three monthly prices) after every other price, so
        those keep their ids (profile switch `quarterly_share`)."""
        n = len(self.price_id)
        for p in PRODUCTS:
            if not p.recurring:
                continue
            monthly = [k for k in self.price_amount if k[0] == p.code and k[2] == "month"]
            for _, cur, _ in monthly:
                n += 1
                price = stripe_id("price", n, seed)
                amount = self.price_amount[(p.code, cur, "month")] * 3
                self.price_id[(p.code, cur, "quarter")] = price
                self.price_amount[(p.code, cur, "quarter")] = amount
                doc = _price_doc(price, self.product_id[p.code], cur, "quarter", amount, created)
                self.price_doc[price] = doc
                self.price_json[price] = orjson.dumps(doc)
                self.plan_json[price] = orjson.dumps(_plan(doc))

    def price(self, code: str, currency: str, interval: str) -> dict[str, Any]:
        """The full price object."""
        return self.price_doc[self.price_id[(code, currency, interval)]]

    def price_fragment(self, price_id: str) -> orjson.Fragment:
        """The price object, pre-serialized for embedding."""
        return orjson.Fragment(self.price_json[price_id])

    def plan_fragment(self, price_id: str) -> orjson.Fragment:
        """The legacy `plan` object of a price (`null` for one-time prices), pre-serialized."""
        return orjson.Fragment(self.plan_json[price_id])


def invoice_reference(inv: Invoice, profile: Profile) -> str:
    """What the legacy ERP integration writes to name a Stripe invoice: its id or number."""
    return inv.id if profile.invoice_reference_value == "id" else inv.number


def _product_doc(p: Product, pid: str, created: int, code_key: str) -> dict[str, Any]:
    return {
        "id": pid,
        "object": "product",
        "active": True,
        "attributes": [],
        "created": created,
        "default_price": None,
        "description": p.name,
        "images": [],
        "livemode": False,
        "marketing_features": [],
        "metadata": {code_key: p.code} if code_key else {},
        "name": p.name,
        "package_dimensions": None,
        "shippable": None,
        "statement_descriptor": None,
        "tax_code": None,
        "type": "service",
        "unit_label": "seat" if p.per_seat else None,
        "updated": created,
        "url": None,
    }


def _price_doc(
    price: str, product: str, cur: str, interval: str, amount: int, created: int
) -> dict[str, Any]:
    recurring = None
    if interval != "one":
        recurring = {
            "aggregate_usage": None,
            "interval": mrr.STRIPE_RECURRING[interval][0],
            "interval_count": mrr.STRIPE_RECURRING[interval][1],
            "meter": None,
            "trial_period_days": None,
            "usage_type": "licensed",
        }
    return {
        "id": price,
        "object": "price",
        "active": True,
        "billing_scheme": "per_unit",
        "created": created,
        "currency": cur.lower(),
        "custom_unit_amount": None,
        "livemode": False,
        "lookup_key": None,
        "metadata": {},
        "nickname": None,
        "product": product,
        "recurring": recurring,
        "tax_behavior": "unspecified",
        "tiers_mode": None,
        "transform_quantity": None,
        "type": "recurring" if recurring else "one_time",
        "unit_amount": amount,
        "unit_amount_decimal": str(amount),
    }


def customer_doc(c: Customer, profile: Profile = CLASSIC, *, balance: int = 0) -> dict[str, Any]:
    """The customer object (a deleted one is rendered as a stub by the API, not here)."""
    return {
        "id": c.stripe_id,
        "object": "customer",
        "address": {
            "city": c.city,
            "country": c.country,
            "line1": c.street,
            "line2": None,
            "postal_code": c.postal,
            "state": None,
        },
        "balance": balance,
        "created": c.stripe_created,
        "currency": c.currency.lower(),
        "default_source": None,
        "delinquent": False,
        "description": None,
        "discount": None,
        "email": c.email,
        "invoice_prefix": c.invoice_prefix,
        "invoice_settings": {
            "custom_fields": None,
            "default_payment_method": None,
            "footer": None,
            "rendering_options": None,
        },
        "livemode": False,
        "metadata": {profile.customer_link_key: c.account_id} if c.stripe_meta else {},
        "name": c.stripe_name,
        "next_invoice_sequence": c.invoice_seq + 1,
        "phone": c.phone,
        "preferred_locales": [],
        "shipping": None,
        "tax_exempt": "none",
        "test_clock": None,
    }


def subscription_doc(s: Subscription, c: Customer, book: PriceBook) -> dict[str, Any]:
    """The subscription object with its `items` list."""
    items = []
    for it in s.items:
        price = book.price_id[(it.code, s.currency, s.interval)]
        items.append(
            {
                "id": it.id,
                "object": "subscription_item",
                "billing_thresholds": None,
                "created": it.created,
                "discounts": [],
                "metadata": {},
                "plan": book.plan_fragment(price),
                "price": book.price_fragment(price),
                "quantity": it.quantity,
                "subscription": s.id,
                "tax_rates": [],
            }
        )
    single = items[0] if len(items) == 1 else None
    return {
        "id": s.id,
        "object": "subscription",
        "application": None,
        "application_fee_percent": None,
        "automatic_tax": {"enabled": False, "liability": None},
        "billing_cycle_anchor": s.anchor,
        "billing_thresholds": None,
        "cancel_at": s.cpe if s.cancel_at_period_end else None,
        "cancel_at_period_end": s.cancel_at_period_end,
        "canceled_at": s.canceled_at,
        "cancellation_details": {
            "comment": None,
            "feedback": None,
            "reason": s.cancel_reason,
        },
        "collection_method": s.collection,
        "created": s.created,
        "currency": s.currency.lower(),
        "current_period_end": s.cpe,
        "current_period_start": s.cps,
        "customer": c.stripe_id,
        "days_until_due": 30 if s.collection == "send_invoice" else None,
        "default_payment_method": None,
        "default_source": None,
        "default_tax_rates": [],
        "description": None,
        "discount": None,
        "discounts": [],
        "ended_at": s.ended_at,
        "items": {
            "object": "list",
            "data": items,
            "has_more": False,
            "total_count": len(items),
            "url": f"/v1/subscription_items?subscription={s.id}",
        },
        "latest_invoice": s.latest_invoice,
        "livemode": False,
        "metadata": {book.profile.subscription_link_key: s.contract_id},
        "next_pending_invoice_item_invoice": None,
        "pause_collection": None,
        "pending_invoice_item_interval": None,
        "pending_setup_intent": None,
        "pending_update": None,
        "plan": single["plan"] if single else None,
        "quantity": single["quantity"] if single else None,
        "schedule": None,
        "start_date": s.created,
        "status": s.status,
        "test_clock": None,
        "transfer_data": None,
        "trial_end": None,
        "trial_settings": {"end_behavior": {"missing_payment_method": "create_invoice"}},
        "trial_start": None,
    }


def _plan(price: dict[str, Any]) -> dict[str, Any] | None:
    rec = price["recurring"]
    if rec is None:
        return None
    return {
        "id": price["id"],
        "object": "plan",
        "active": True,
        "aggregate_usage": None,
        "amount": price["unit_amount"],
        "amount_decimal": price["unit_amount_decimal"],
        "billing_scheme": "per_unit",
        "created": price["created"],
        "currency": price["currency"],
        "interval": rec["interval"],
        "interval_count": rec["interval_count"],
        "livemode": False,
        "metadata": {},
        "meter": None,
        "nickname": None,
        "product": price["product"],
        "tiers_mode": None,
        "transform_usage": None,
        "trial_period_days": None,
        "usage_type": "licensed",
    }


def line_doc(
    book: PriceBook,
    *,
    line_id: str,
    invoice_id: str,
    amount: int,
    currency: str,
    description: str,
    start: int,
    end: int,
    price: dict[str, Any],
    proration: bool,
    quantity: int,
    subscription: str | None,
    subscription_item: str | None,
    invoice_item: str | None,
) -> dict[str, Any]:
    """An invoice line item (`il_...`)."""
    kind = "invoiceitem" if invoice_item else "subscription"
    return {
        "id": line_id,
        "object": "line_item",
        "amount": amount,
        "amount_excluding_tax": amount,
        "currency": currency.lower(),
        "description": description,
        "discount_amounts": [],
        "discountable": True,
        "discounts": [],
        "invoice": invoice_id,
        "invoice_item": invoice_item,
        "livemode": False,
        "metadata": {},
        "period": {"end": end, "start": start},
        "plan": book.plan_fragment(price["id"]),
        "price": book.price_fragment(price["id"]),
        "proration": proration,
        "proration_details": {"credited_items": None},
        "quantity": quantity,
        "subscription": subscription,
        "subscription_item": subscription_item,
        "tax_amounts": [],
        "tax_rates": [],
        "type": kind,
        "unit_amount_excluding_tax": str(price["unit_amount"]),
    }


def invoice_doc(inv: Invoice, c: Customer, profile: Profile = CLASSIC) -> dict[str, Any]:
    """The invoice object with the first 10 lines embedded (`lines.has_more` beyond)."""
    paid = inv.status == "paid"
    snapshot = inv.contract_id and not profile.unused("invoice.subscription_details.metadata")
    due = inv.total - inv.pre_cn_amount
    remaining = 0 if paid else due - inv.amount_paid
    return {
        "id": inv.id,
        "object": "invoice",
        "account_country": "US",
        "account_name": "CloseLoop",
        "account_tax_ids": None,
        "amount_due": due,
        "amount_paid": inv.amount_paid,
        "amount_remaining": remaining,
        "amount_shipping": 0,
        "application": None,
        "application_fee_amount": None,
        "attempt_count": inv.attempt_count,
        "attempted": inv.attempt_count > 0,
        "auto_advance": inv.status == "open",
        "automatic_tax": {"enabled": False, "liability": None, "status": None},
        "billing_reason": inv.billing_reason,
        "charge": inv.charge,
        "collection_method": inv.collection,
        "created": inv.created,
        "currency": inv.currency.lower(),
        "custom_fields": None,
        "customer": c.stripe_id,
        "customer_address": None,
        "customer_email": c.email,
        "customer_name": c.stripe_name,
        "customer_phone": None,
        "customer_shipping": None,
        "customer_tax_exempt": "none",
        "customer_tax_ids": [],
        "default_payment_method": None,
        "default_source": None,
        "default_tax_rates": [],
        "description": None,
        "discount": None,
        "discounts": [],
        "due_date": inv.due_date,
        "effective_at": inv.finalized_at,
        "ending_balance": 0,
        "footer": None,
        "from_invoice": None,
        "hosted_invoice_url": f"https://invoice.stripe.com/i/{inv.id}",
        "invoice_pdf": f"https://pay.stripe.com/invoice/{inv.id}/pdf",
        "issuer": {"type": "self"},
        "last_finalization_error": None,
        "latest_revision": None,
        "lines": {
            "object": "list",
            "data": [orjson.Fragment(b) for b in inv.line_blobs[:10]],
            "has_more": len(inv.line_blobs) > 10,
            "total_count": len(inv.line_blobs),
            "url": f"/v1/invoices/{inv.id}/lines",
        },
        "livemode": False,
        "metadata": {},
        "next_payment_attempt": inv.next_attempt if inv.status == "open" else None,
        "number": inv.number,
        "on_behalf_of": None,
        "paid": paid,
        "paid_out_of_band": inv.paid_oob,
        "payment_intent": inv.pi,
        "payment_settings": {
            "default_mandate": None,
            "payment_method_options": None,
            "payment_method_types": None,
        },
        "period_end": inv.period_end,
        "period_start": inv.period_start,
        "post_payment_credit_notes_amount": inv.cn_amount - inv.pre_cn_amount,
        "pre_payment_credit_notes_amount": inv.pre_cn_amount,
        "quote": None,
        "receipt_number": None,
        "rendering": None,
        "shipping_cost": None,
        "shipping_details": None,
        "starting_balance": 0,
        "statement_descriptor": None,
        "status": inv.status,
        "status_transitions": {
            "finalized_at": inv.finalized_at,
            "marked_uncollectible_at": inv.uncollectible_at,
            "paid_at": inv.paid_at,
            "voided_at": inv.voided_at,
        },
        "subscription": inv.sub_id,
        "subscription_details": {
            "metadata": {profile.subscription_link_key: inv.contract_id} if snapshot else {}
        },
        "subtotal": inv.total,
        "subtotal_excluding_tax": inv.total,
        "tax": None,
        "test_clock": None,
        "total": inv.total,
        "total_discount_amounts": [],
        "total_excluding_tax": inv.total,
        "total_tax_amounts": [],
        "transfer_data": None,
        "webhooks_delivered_at": inv.created,
    }


def payment_intent_doc(inv: Invoice, c: Customer) -> dict[str, Any]:
    """The payment intent that collects an invoice."""
    succeeded = inv.pi_status == "succeeded"
    return {
        "id": inv.pi,
        "object": "payment_intent",
        "amount": inv.total - inv.pre_cn_amount,
        "amount_capturable": 0,
        "amount_details": {"tip": {}},
        "amount_received": inv.total - inv.pre_cn_amount if succeeded else 0,
        "application": None,
        "application_fee_amount": None,
        "automatic_payment_methods": None,
        "canceled_at": inv.voided_at if inv.pi_status == "canceled" else None,
        "cancellation_reason": "void_invoice" if inv.pi_status == "canceled" else None,
        "capture_method": "automatic",
        "client_secret": f"{inv.pi}_secret_sandbox",
        "confirmation_method": "automatic",
        "created": inv.pi_created,
        "currency": inv.currency.lower(),
        "customer": c.stripe_id,
        "description": "Subscription update"
        if inv.billing_reason != "subscription_create"
        else "Subscription creation",
        "invoice": inv.id,
        "last_payment_error": inv.pi_error,
        "latest_charge": inv.charge,
        "livemode": False,
        "metadata": {},
        "next_action": None,
        "on_behalf_of": None,
        "payment_method": f"pm_{c.stripe_id[4:] if c.stripe_id else ''}",
        "payment_method_options": {"card": {"request_three_d_secure": "automatic"}},
        "payment_method_types": ["card"],
        "processing": None,
        "receipt_email": None,
        "review": None,
        "setup_future_usage": "off_session",
        "shipping": None,
        "source": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": inv.pi_status,
        "transfer_data": None,
        "transfer_group": None,
    }


def charge_doc(
    *,
    charge_id: str,
    created: int,
    amount: int,
    currency: str,
    customer: str | None,
    invoice: str,
    payment_intent: str | None,
    succeeded: bool,
    failure_code: str | None,
    amount_refunded: int = 0,
) -> dict[str, Any]:
    """A card charge (succeeded or failed)."""
    outcome = (
        {
            "network_status": "approved_by_network",
            "reason": None,
            "risk_level": "normal",
            "seller_message": "Payment complete.",
            "type": "authorized",
        }
        if succeeded
        else {
            "network_status": "declined_by_network",
            "reason": failure_code,
            "risk_level": "normal",
            "seller_message": "The bank did not return any further details with this decline.",
            "type": "issuer_declined",
        }
    )
    return {
        "id": charge_id,
        "object": "charge",
        "amount": amount,
        "amount_captured": amount if succeeded else 0,
        "amount_refunded": amount_refunded,
        "application": None,
        "application_fee": None,
        "application_fee_amount": None,
        "balance_transaction": f"txn_{charge_id[3:]}" if succeeded else None,
        "billing_details": {"address": None, "email": None, "name": None, "phone": None},
        "calculated_statement_descriptor": "CLOSELOOP",
        "captured": succeeded,
        "created": created,
        "currency": currency.lower(),
        "customer": customer,
        "description": "Subscription update",
        "disputed": False,
        "failure_balance_transaction": None,
        "failure_code": failure_code,
        "failure_message": "Your card was declined." if failure_code else None,
        "fraud_details": {},
        "invoice": invoice,
        "livemode": False,
        "metadata": {},
        "on_behalf_of": None,
        "outcome": outcome,
        "paid": succeeded,
        "payment_intent": payment_intent,
        "payment_method": f"pm_{customer[4:] if customer else ''}",
        "payment_method_details": {"card": {"brand": "visa", "last4": "4242"}, "type": "card"},
        "receipt_email": None,
        "receipt_number": None,
        "receipt_url": None,
        "refunded": succeeded and amount_refunded == amount,
        "review": None,
        "shipping": None,
        "source_transfer": None,
        "statement_descriptor": None,
        "statement_descriptor_suffix": None,
        "status": "succeeded" if succeeded else "failed",
        "transfer_data": None,
        "transfer_group": None,
    }


def refund_doc(
    *, refund_id: str, created: int, amount: int, currency: str, charge: str, pi: str | None
) -> dict[str, Any]:
    """A refund of (part of) a charge."""
    return {
        "id": refund_id,
        "object": "refund",
        "amount": amount,
        "balance_transaction": f"txn_{refund_id[3:]}",
        "charge": charge,
        "created": created,
        "currency": currency.lower(),
        "destination_details": {"card": {"type": "refund"}, "type": "card"},
        "metadata": {},
        "payment_intent": pi,
        "reason": "requested_by_customer",
        "receipt_number": None,
        "source_transfer_reversal": None,
        "status": "succeeded",
        "transfer_reversal": None,
    }


def credit_note_doc(
    *,
    cn_id: str,
    number: str,
    created: int,
    amount: int,
    inv: Invoice,
    customer: str | None,
    line_ids: list[str],
    pre_payment: bool = False,
) -> dict[str, Any]:
    """A post-payment credit note settled out of band (no refund, no customer balance), or a
    pre-payment one, which lowers what the open invoice still asks for."""
    line_id, _, _, _, _, _, _, description = inv.line_meta[0]
    cn_lines = [
        {
            "id": line_ids[0],
            "object": "credit_note_line_item",
            "amount": amount,
            "amount_excluding_tax": amount,
            "description": description,
            "discount_amount": 0,
            "discount_amounts": [],
            "invoice_line_item": line_id,
            "livemode": False,
            "quantity": 1,
            "tax_amounts": [],
            "tax_rates": [],
            "type": "invoice_line_item",
            "unit_amount": amount,
            "unit_amount_decimal": str(amount),
            "unit_amount_excluding_tax": str(amount),
        }
    ]
    return {
        "id": cn_id,
        "object": "credit_note",
        "amount": amount,
        "amount_shipping": 0,
        "created": created,
        "currency": inv.currency.lower(),
        "customer": customer,
        "customer_balance_transaction": None,
        "discount_amount": 0,
        "discount_amounts": [],
        "effective_at": created,
        "invoice": inv.id,
        "lines": {
            "object": "list",
            "data": cn_lines,
            "has_more": False,
            "total_count": 1,
            "url": f"/v1/credit_notes/{cn_id}/lines",
        },
        "livemode": False,
        "memo": "Service credit",
        "metadata": {},
        "number": number,
        "out_of_band_amount": 0 if pre_payment else amount,
        "pdf": f"https://pay.stripe.com/credit_notes/{cn_id}/pdf",
        "reason": "order_change",
        "refund": None,
        "shipping_cost": None,
        "status": "issued",
        "subtotal": amount,
        "subtotal_excluding_tax": amount,
        "tax_amounts": [],
        "total": amount,
        "total_excluding_tax": amount,
        "type": "pre_payment" if pre_payment else "post_payment",
        "voided_at": None,
    }


def event_doc(
    event_id: str,
    created: int,
    etype: str,
    obj: dict[str, Any],
    previous: dict[str, Any] | None,
    api_version: str,
) -> dict[str, Any]:
    """An event with a snapshot of the object (and `previous_attributes` on updates)."""
    data: dict[str, Any] = {"object": obj}
    if previous is not None:
        data["previous_attributes"] = previous
    return {
        "id": event_id,
        "object": "event",
        "api_version": api_version,
        "created": created,
        "data": data,
        "livemode": False,
        "pending_webhooks": 0,
        "request": {"id": None, "idempotency_key": None},
        "type": etype,
    }
