"""Constants of the billing (Stripe) source: pinned API version, endpoints and field types."""

from __future__ import annotations

from ingestion.edge import Field, TableSpec, as_minor_units, f

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


def _spec(table: str, amounts: tuple[str, ...] = (), drop: tuple[str, ...] = ()) -> TableSpec:
    known = {"id": f("text"), "created": _INT, **{name: _MINOR for name in amounts}}
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
        {"id": f("text"), "created": _INT, "type": f("text"), "data": f("json")},
        flatten=False,
    ),
    "invoice_lines": TableSpec(
        "invoice_lines",
        ("invoice", "id"),
        {"id": f("text"), "invoice": f("text"), "amount": _MINOR, "quantity": _INT},
    ),
    "subscription_items": TableSpec(
        "subscription_items",
        ("subscription", "id"),
        {"id": f("text"), "subscription": f("text"), "created": _INT, "quantity": _INT},
    ),
}
