"""Constants of the billing (Stripe) source: pinned API version, endpoints and field types."""

from __future__ import annotations

from ingestion.edge import Field, Kind, TableSpec, as_minor_units, f

#: The Stripe API version the connector pins (as production integrations do); every shape the
#: raw tables hold is this version's. Pre-"basil": invoices carry `subscription` and `charge`.
STRIPE_VERSION = "2024-06-20"

#: Stripe's maximum page size.
PAGE_LIMIT = 100

#: Records converted and handed to dlt at once: dlt's cost per item is fixed, so few big
#: Arrow tables load much faster than one per page.
BATCH_ROWS = 5000

#: Stripe keeps events for 30 days; older cursors cannot be resumed.
EVENT_RETENTION_DAYS = 30

_MINOR = Field("bigint", as_minor_units)
_INT = f("bigint")

#: The discount (a coupon applied) a subscription has now and an invoice applied, flattened:
#: MRR reads its terms (percent or amount off, duration, start and end).
_DISCOUNT: dict[str, Kind] = {
    "discount__id": "text", "discount__coupon__id": "text",
    "discount__coupon__percent_off": "decimal", "discount__coupon__amount_off": "bigint",
    "discount__coupon__currency": "text", "discount__coupon__duration": "text",
    "discount__coupon__duration_in_months": "bigint", "discount__start": "bigint",
    "discount__end": "bigint",
}  # fmt: skip

#: The documented Stripe fields (API version STRIPE_VERSION) the models read, by raw table, with
#: their kinds: declared, so each column exists from the first load (null until some record
#: sets it). dlt adds a column only once a record has a value, and an account that never used
#: an optional field (`marked_uncollectible_at`, `canceled_at`, ...) would otherwise lack it.
#: Nested objects are flattened (`status_transitions__paid_at`). Metadata keys are the
#: company's own and are not declared.
DECLARED: dict[str, dict[str, Kind]] = {
    "customers": {
        "name": "text", "email": "text", "phone": "text", "address__line1": "text",
        "address__city": "text", "address__postal_code": "text", "address__country": "text",
        "currency": "text", "invoice_prefix": "text", "tax_exempt": "text", "delinquent": "bool",
        "deleted": "bool", "livemode": "bool",
    },
    "products": {
        "name": "text", "description": "text", "unit_label": "text", "active": "bool",
        "updated": "bigint",
    },
    "prices": {
        "product": "text", "currency": "text", "type": "text", "recurring__interval": "text",
        "recurring__interval_count": "bigint", "recurring__usage_type": "text", "active": "bool",
    },
    "subscriptions": {
        "customer": "text", "latest_invoice": "text", "status": "text",
        "collection_method": "text", "currency": "text", "cancellation_details__reason": "text",
        "cancel_at_period_end": "bool", "days_until_due": "bigint", "start_date": "bigint",
        "current_period_start": "bigint", "current_period_end": "bigint",
        "billing_cycle_anchor": "bigint", "cancel_at": "bigint", "canceled_at": "bigint",
        "ended_at": "bigint", "trial_start": "bigint", "trial_end": "bigint",
        **_DISCOUNT,
    },
    "invoices": {
        "customer": "text", "subscription": "text", "charge": "text", "payment_intent": "text",
        "number": "text", "status": "text", "billing_reason": "text",
        "collection_method": "text", "currency": "text", "paid": "bool",
        "paid_out_of_band": "bool", "post_payment_credit_notes_amount": "bigint",
        "attempt_count": "bigint", "period_start": "bigint", "period_end": "bigint",
        "due_date": "bigint", "status_transitions__finalized_at": "bigint",
        "status_transitions__paid_at": "bigint", "status_transitions__voided_at": "bigint",
        "status_transitions__marked_uncollectible_at": "bigint",
        **_DISCOUNT,
    },
    "charges": {
        "customer": "text", "invoice": "text", "payment_intent": "text", "status": "text",
        "failure_code": "text", "failure_message": "text", "currency": "text", "paid": "bool",
        "refunded": "bool", "captured": "bool",
    },
    "payment_intents": {
        "customer": "text", "invoice": "text", "latest_charge": "text", "status": "text",
        "currency": "text", "canceled_at": "bigint",
    },
    "refunds": {
        "charge": "text", "payment_intent": "text", "status": "text", "reason": "text",
        "currency": "text",
    },
    "credit_notes": {
        "invoice": "text", "customer": "text", "number": "text", "status": "text",
        "type": "text", "reason": "text", "memo": "text", "currency": "text",
        "out_of_band_amount": "bigint", "effective_at": "bigint",
        "total_excluding_tax": "bigint",
    },
    "events": {"api_version": "text"},
    "invoice_lines": {
        "subscription": "text", "subscription_item": "text", "invoice_item": "text",
        "price__id": "text", "price__product": "text", "price__recurring__interval": "text",
        "type": "text", "description": "text", "currency": "text", "proration": "bool",
        "price__unit_amount": "bigint", "period__start": "bigint", "period__end": "bigint",
        "amount_excluding_tax": "bigint", "discount_amounts": "json",
    },
    "subscription_items": {
        "price__id": "text", "price__product": "text", "price__currency": "text",
        "price__recurring__interval": "text", "price__unit_amount": "bigint",
    },
}  # fmt: skip


def _declared(table: str) -> dict[str, Field]:
    return {name: f(kind) for name, kind in DECLARED.get(table, {}).items()}


def _spec(table: str, amounts: tuple[str, ...] = (), drop: tuple[str, ...] = ()) -> TableSpec:
    known = {
        **_declared(table),
        "id": f("text"),
        "created": _INT,
        **{name: _MINOR for name in amounts},
    }
    return TableSpec(table, ("id",), known, frozenset(drop))


#: One list endpoint per table (`/v1/<table>`), with extra list parameters.
LISTS: dict[str, dict[str, str]] = {
    "customers": {},
    "products": {},
    "prices": {},
    # Canceled subscriptions are hidden unless asked for (VENDOR_FACTS Stripe 3).
    "subscriptions": {"status": "all"},
    "invoices": {},
    "charges": {},
    "payment_intents": {},
    "refunds": {},
    "credit_notes": {},
}

#: Stripe object name -> table.
OBJECT_TABLES = {
    "customer": "customers",
    "product": "products",
    "price": "prices",
    "subscription": "subscriptions",
    "invoice": "invoices",
    "charge": "charges",
    "payment_intent": "payment_intents",
    "refund": "refunds",
    "credit_note": "credit_notes",
}

SPECS: dict[str, TableSpec] = {
    "customers": _spec("customers", ("balance",)),
    "products": _spec("products"),
    "prices": _spec("prices", ("unit_amount",)),
    # Items have a table of their own (subscription_items).
    "subscriptions": _spec("subscriptions", drop=("items",)),
    "invoices": _spec(
        "invoices",
        (
            "amount_due",
            "amount_paid",
            "amount_remaining",
            "subtotal",
            "total",
            "tax",
            "starting_balance",
            "ending_balance",
        ),
        # Lines have a table of their own (invoice_lines); the count stays.
        drop=("lines",),
    ),
    "charges": _spec("charges", ("amount", "amount_captured", "amount_refunded")),
    "payment_intents": _spec("payment_intents", ("amount", "amount_received", "amount_capturable")),
    "refunds": _spec("refunds", ("amount",)),
    "credit_notes": _spec(
        "credit_notes", ("amount", "subtotal", "total", "discount_amount"), drop=("lines",)
    ),
    "events": TableSpec(
        "events",
        ("id",),
        {
            **_declared("events"),
            "id": f("text"),
            "created": _INT,
            "type": f("text"),
            "data": f("json"),
        },
        flatten=False,
    ),
    "invoice_lines": TableSpec(
        "invoice_lines",
        ("invoice", "id"),
        {
            **_declared("invoice_lines"),
            "id": f("text"),
            "invoice": f("text"),
            "amount": _MINOR,
            "quantity": _INT,
        },
    ),
    "subscription_items": TableSpec(
        "subscription_items",
        ("subscription", "id"),
        {
            **_declared("subscription_items"),
            "id": f("text"),
            "subscription": f("text"),
            "created": _INT,
            "quantity": _INT,
        },
    ),
}
