"""Stripe-Version handling: parse the header and reshape stored documents for the version asked.

Documents are stored rendered in `schema.STORED_STRIPE_VERSION` (2024-06-20). A request pinned to
an earlier version, or to any version before `schema.STRIPE_BASIL` (2025-03-31), gets them as
stored. From 2025-03-31.basil on, the breaking changes below (from Stripe's basil changelog)
apply; later releases (clover, ...) are served with the basil shapes.

Implemented basil changes:

* Invoice (changelog "adds new parent field to invoicing objects" and "multiple partial
  payments on invoices"): `charge`, `payment_intent`, `paid`, `paid_out_of_band`,
  `subscription`, `subscription_details`, `subscription_proration_date` and `quote` are
  removed; `parent` is added (`{"type": "subscription_details", "subscription_details":
  {"metadata", "subscription", "subscription_proration_date"}, "quote_details": null}`, or
  null for an invoice without subscription); `total_tax_amounts` becomes `total_taxes`;
  `amount_overpaid` and `amount_paid_off_stripe` are added. `payments` is includable only, so it
  is not rendered.
* Invoice line item ("invoice pricing configurations" and the parent change): `price`, `plan`,
  `type`, `subscription`, `subscription_item`, `invoice_item`, `proration`,
  `proration_details`, `tax_amounts`, `tax_rates`, `amount_excluding_tax` and
  `unit_amount_excluding_tax` are removed; `parent` (`subscription_item_details` or
  `invoice_item_details`), `pricing` (`{"type": "price_details", "price_details": {"price",
  "product"}, "unit_amount_decimal"}`), `taxes` and `pretax_credit_amounts` are added.
* Subscription ("current period moved to subscription items"): `current_period_start` and
  `current_period_end` move from the subscription to each of its items.
* Charge and PaymentIntent: `invoice` is removed.

Events are never reshaped: Stripe renders an event's `data.object` in the version the event
was created with (its `api_version`), whatever the request's Stripe-Version header says.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from sandbox.schema import STORED_STRIPE_VERSION, STRIPE_BASIL

_VERSION_RE = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:\.([a-z]+))?$")


@dataclass(frozen=True)
class ApiVersion:
    """A parsed Stripe-Version: the string to echo and whether it renders basil shapes."""

    value: str
    basil: bool

    @property
    def stored(self) -> bool:
        """True when stored documents can be served as they are."""
        return not self.basil


DEFAULT_VERSION = ApiVersion(STORED_STRIPE_VERSION, basil=False)


def parse_version(header: str | None) -> ApiVersion | None:
    """Parse a Stripe-Version header value.

    Args:
        header: The header value, or None when the request did not send one.

    Returns:
        The version to render (the account default when the header is absent), or None when
        the value is malformed (the caller answers 400).
    """
    if header is None:
        return DEFAULT_VERSION
    value = header.strip()
    match = _VERSION_RE.match(value)
    if match is None:
        return None
    try:
        dt.date.fromisoformat(match.group(1))
    except ValueError:
        return None
    return ApiVersion(value, basil=match.group(1) >= STRIPE_BASIL)


def _taxes(tax_amounts: Any) -> list[dict[str, Any]]:
    """Old `tax_amounts`/`total_tax_amounts` entries in the basil `taxes` shape."""
    out: list[dict[str, Any]] = []
    for tax in tax_amounts or []:
        rate = tax.get("tax_rate")
        out.append(
            {
                "amount": tax.get("amount"),
                "tax_behavior": "inclusive" if tax.get("inclusive") else "exclusive",
                "tax_rate_details": {"tax_rate": rate if isinstance(rate, str) else None},
                "taxability_reason": tax.get("taxability_reason"),
                "taxable_amount": tax.get("taxable_amount"),
                "type": "tax_rate_details",
            }
        )
    return out


def invoice_to_basil(doc: dict[str, Any]) -> dict[str, Any]:
    """Reshape a stored invoice (and its embedded lines) into the basil shape, in place."""
    for key in ("charge", "payment_intent", "paid", "paid_out_of_band", "quote"):
        doc.pop(key, None)
    subscription = doc.pop("subscription", None)
    details = doc.pop("subscription_details", None) or {}
    proration_date = doc.pop("subscription_proration_date", None)
    if subscription is not None:
        doc["parent"] = {
            "quote_details": None,
            "subscription_details": {
                "metadata": details.get("metadata") or {},
                "subscription": subscription,
                "subscription_proration_date": proration_date,
            },
            "type": "subscription_details",
        }
    else:
        doc["parent"] = None
    if "total_tax_amounts" in doc:
        doc["total_taxes"] = _taxes(doc.pop("total_tax_amounts"))
    doc.setdefault("amount_overpaid", 0)
    doc.setdefault("amount_paid_off_stripe", 0)
    lines = doc.get("lines")
    if isinstance(lines, dict):
        lines["data"] = [line_to_basil(line) for line in lines.get("data") or []]
    return doc


def line_to_basil(doc: dict[str, Any]) -> dict[str, Any]:
    """Reshape a stored invoice line item into the basil shape, in place."""
    price = doc.pop("price", None)
    doc.pop("plan", None)
    kind = doc.pop("type", None)
    subscription = doc.pop("subscription", None)
    subscription_item = doc.pop("subscription_item", None)
    invoice_item = doc.pop("invoice_item", None)
    proration = bool(doc.pop("proration", False))
    proration_details = doc.pop("proration_details", None)
    tax_amounts = doc.pop("tax_amounts", None)
    for key in ("tax_rates", "amount_excluding_tax", "unit_amount_excluding_tax"):
        doc.pop(key, None)

    if kind == "invoiceitem" or (invoice_item is not None and subscription_item is None):
        doc["parent"] = {
            "invoice_item_details": {
                "invoice_item": invoice_item,
                "proration": proration,
                "proration_details": proration_details,
                "subscription": subscription,
            },
            "subscription_item_details": None,
            "type": "invoice_item_details",
        }
    elif subscription_item is not None or kind == "subscription":
        doc["parent"] = {
            "invoice_item_details": None,
            "subscription_item_details": {
                "invoice_item": invoice_item,
                "proration": proration,
                "proration_details": proration_details,
                "subscription": subscription,
                "subscription_item": subscription_item,
            },
            "type": "subscription_item_details",
        }
    else:
        doc["parent"] = None

    if price is None:
        doc["pricing"] = None
    else:
        price_id = price.get("id") if isinstance(price, dict) else price
        product = price.get("product") if isinstance(price, dict) else None
        if isinstance(product, dict):
            product = product.get("id")
        unit = None
        if isinstance(price, dict):
            unit = price.get("unit_amount_decimal")
            if unit is None and price.get("unit_amount") is not None:
                unit = str(price["unit_amount"])
        doc["pricing"] = {
            "price_details": {"price": price_id, "product": product},
            "type": "price_details",
            "unit_amount_decimal": unit,
        }
    doc["taxes"] = _taxes(tax_amounts)
    doc.setdefault("pretax_credit_amounts", [])
    return doc


def subscription_to_basil(doc: dict[str, Any]) -> dict[str, Any]:
    """Move the current period from the subscription to its items (basil), in place."""
    start = doc.pop("current_period_start", None)
    end = doc.pop("current_period_end", None)
    items = doc.get("items")
    if isinstance(items, dict):
        for item in items.get("data") or []:
            item.setdefault("current_period_start", start)
            item.setdefault("current_period_end", end)
    return doc


def _drop_invoice(doc: dict[str, Any]) -> dict[str, Any]:
    doc.pop("invoice", None)
    return doc


_BASIL = {
    "invoice": invoice_to_basil,
    "line_item": line_to_basil,
    "subscription": subscription_to_basil,
    "charge": _drop_invoice,
    "payment_intent": _drop_invoice,
}


def needs_reshape(object_name: str, version: ApiVersion) -> bool:
    """Whether documents of this object type differ from the stored shape in `version`."""
    return version.basil and object_name in _BASIL


def render(doc: dict[str, Any], version: ApiVersion) -> dict[str, Any]:
    """Reshape one stored document (any object type) for `version`, in place.

    Args:
        doc: A stored document, parsed.
        version: The version the request asked for.

    Returns:
        The same dict, reshaped when the version needs it.
    """
    if version.basil:
        transform = _BASIL.get(str(doc.get("object")))
        if transform is not None:
            return transform(doc)
    return doc
