"""`expand[]`: replace id references by the objects they name, as Stripe does, up to 4 levels.

A path is expandable when the rendered document (in the request's API version) has that field
and the field is a reference listed here; so `charge` on an invoice expands under 2024-06-20 and
is a 400 under basil, where invoices no longer carry it. Nested lists are walked with `data`
(`data.customer` on a list, `lines.data.pricing.price_details.price` on an invoice).
"""

from __future__ import annotations

from typing import Any

import orjson

from sandbox.billing.params import StripeError
from sandbox.billing.store import BillingStore
from sandbox.billing.versions import ApiVersion, render

#: Per object type: dotted field path -> object type it references.
EXPANDABLE: dict[str, dict[tuple[str, ...], str]] = {
    "invoice": {
        ("customer",): "customer",
        ("subscription",): "subscription",
        ("charge",): "charge",
        ("payment_intent",): "payment_intent",
        ("parent", "subscription_details", "subscription"): "subscription",
    },
    "line_item": {
        ("pricing", "price_details", "price"): "price",
    },
    "subscription": {
        ("customer",): "customer",
        ("latest_invoice",): "invoice",
    },
    "charge": {
        ("customer",): "customer",
        ("invoice",): "invoice",
        ("payment_intent",): "payment_intent",
    },
    "payment_intent": {
        ("customer",): "customer",
        ("invoice",): "invoice",
        ("latest_charge",): "charge",
    },
    "refund": {
        ("charge",): "charge",
        ("payment_intent",): "payment_intent",
    },
    "credit_note": {
        ("customer",): "customer",
        ("invoice",): "invoice",
        ("refund",): "refund",
    },
    "price": {("product",): "product"},
    "product": {("default_price",): "price"},
}

MAX_DEPTH = 4


class Expander:
    """Expands paths in documents of one request (caches what it fetched)."""

    def __init__(self, store: BillingStore, version: ApiVersion) -> None:
        self.store = store
        self.version = version
        self._cache: dict[tuple[str, str], dict[str, Any] | None] = {}

    def fetch(self, object_name: str, id_: str) -> dict[str, Any] | None:
        """One object, rendered in the request's version (a fresh dict each call)."""
        key = (object_name, id_)
        if key not in self._cache:
            raw = self.store.raw(object_name, id_)
            self._cache[key] = None if raw is None else orjson.loads(raw)
        cached = self._cache[key]
        if cached is None:
            return None
        return render(orjson.loads(orjson.dumps(cached)), self.version)

    def expand(self, doc: dict[str, Any], path: str) -> None:
        """Expand one `expand[]` path inside `doc`, in place.

        Raises:
            StripeError: 400 when the path names a field that cannot be expanded.
        """
        parts = path.split(".")
        if not path or any(not p for p in parts):
            raise StripeError(400, f"This property cannot be expanded ({path}).", param="expand")
        self._walk(doc, parts, path, 0)

    def _walk(self, doc: Any, parts: list[str], path: str, depth: int) -> None:
        if not parts:
            return
        if not isinstance(doc, dict):
            return
        if doc.get("object") == "list" and parts[0] == "data":
            for item in doc.get("data") or []:
                self._walk(item, parts[1:], path, depth)
            return
        refs = EXPANDABLE.get(str(doc.get("object")), {})
        for ref_path, target in refs.items():
            n = len(ref_path)
            if tuple(parts[:n]) != ref_path:
                continue
            holder: Any = doc
            for key in ref_path[:-1]:
                holder = holder.get(key) if isinstance(holder, dict) else None
            if not isinstance(holder, dict) or ref_path[-1] not in holder:
                break
            if depth + 1 > MAX_DEPTH:
                raise StripeError(
                    400,
                    f"You cannot expand more than {MAX_DEPTH} levels of a property. "
                    f"Property: {path}",
                    param="expand",
                )
            value = holder[ref_path[-1]]
            if isinstance(value, str):
                fetched = self.fetch(target, value)
                if fetched is not None:
                    holder[ref_path[-1]] = fetched
                    value = fetched
            if isinstance(value, dict):
                self._walk(value, parts[n:], path, depth + 1)
            return
        head = doc.get(parts[0])
        if isinstance(head, dict) and head.get("object") == "list" and len(parts) > 1:
            self._walk(head, parts[1:], path, depth)
            return
        raise StripeError(400, f"This property cannot be expanded ({path}).", param="expand")
