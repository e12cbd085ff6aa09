"""NetSuite REST record bodies, assembled from the typed columns of `erp_corrections`.

The model gives one typed row per ERP record change, its columns named as the record API names
the fields (`company_name` for `companyName`, `entity_ref` for `entity: {"id": ...}`, ...) and
an invoice's lines as rows of `erp_correction_lines`. This module turns them into the JSON body
of the request: references become `{"id": ...}` (or `{"externalId": ...}` when the record has
no internal id yet), and amounts are written with exactly the decimals of the currency's
minor unit (ISO 4217 exponent: JPY 0, USD 2, KWD 3).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

#: ISO 4217 minor-unit exponents other than 2 (used when a row carries no `currency_exponent`).
ISO_EXPONENTS: dict[str, int] = {
    **dict.fromkeys(
        ("BIF", "CLP", "DJF", "GNF", "ISK", "JPY", "KMF", "KRW", "PYG", "RWF", "UGX", "UYI",
         "VND", "VUV", "XAF", "XOF", "XPF"),
        0,
    ),
    **dict.fromkeys(("BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"), 3),
    "CLF": 4,
    "UYW": 4,
}  # fmt: skip

#: Record types the write-back knows (NetSuite REST record names, lower case).
RECORD_TYPES = ("customer", "invoice", "customerpayment", "creditmemo")


def currency_exponent(currency_code: str | None, exponent: int | None = None) -> int:
    """Decimals of a currency's minor unit: the row's own `currency_exponent` when given,
    else ISO 4217 (2 for a currency not listed)."""
    if exponent is not None:
        return int(exponent)
    return ISO_EXPONENTS.get((currency_code or "").upper(), 2)


def format_amount(amount: Any, exponent: int) -> str | None:
    """An amount as NetSuite takes it: a decimal string with exactly `exponent` decimals
    (`1100.00` USD, `1100` JPY, `12.500` KWD), rounded half away from zero."""
    if amount is None:
        return None
    value = Decimal(str(amount))
    quantum = Decimal(1).scaleb(-exponent)
    return format(value.quantize(quantum, rounding="ROUND_HALF_UP"), "f")


def quantize(amount: Decimal, exponent: int | None) -> Decimal:
    """An amount rounded to the currency's minor unit (unchanged when it is unknown)."""
    if exponent is None:
        return amount
    return amount.quantize(Decimal(1).scaleb(-exponent), rounding="ROUND_HALF_UP")


def ref(internal_id: Any, external_id: Any = None) -> dict[str, Any]:
    """A record reference: `{"id": ...}`, else `{"externalId": ...}`."""
    if internal_id is not None:
        return {"id": str(internal_id)}
    return {"externalId": None if external_id is None else str(external_id)}


def _day(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)[:10]


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _quantity(value: Any) -> Any:
    if value is None:
        return None
    number = Decimal(str(value))
    return int(number) if number == number.to_integral_value() else number


def customer_body(row: Mapping[str, Any]) -> dict[str, Any]:
    """The body of a customer create."""
    return {
        "externalId": _text(row.get("external_id")),
        "companyName": _text(row.get("company_name")),
        "email": _text(row.get("email")),
        "custentity_cl_tax_id": _text(row.get("custentity_cl_tax_id")),
        "subsidiary": ref(row.get("subsidiary_ref")),
        "currency": ref(row.get("currency_ref")),
    }


def invoice_body(row: Mapping[str, Any], lines: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The body of an invoice create, its `item` sublist from `erp_correction_lines`."""
    exponent = currency_exponent(row.get("currency_code"), row.get("currency_exponent"))
    items = [
        {
            "item": ref(line.get("item_ref"), line.get("item_external_id")),
            "quantity": _quantity(line.get("quantity")),
            "amount": format_amount(line.get("amount"), exponent),
            "description": _text(line.get("description")),
        }
        for line in sorted(lines, key=lambda line: int(line.get("line") or 0))
    ]
    return {
        "externalId": _text(row.get("external_id")),
        "otherRefNum": _text(row.get("other_ref_num")),
        "entity": ref(row.get("entity_ref"), row.get("entity_external_id")),
        "currency": ref(row.get("currency_ref")),
        "tranDate": _day(row.get("tran_date")),
        "item": {"items": items},
    }


def payment_body(row: Mapping[str, Any]) -> dict[str, Any]:
    """The body of a customer payment create, applied to its invoice."""
    exponent = currency_exponent(row.get("currency_code"), row.get("currency_exponent"))
    return {
        "externalId": _text(row.get("external_id")),
        "otherRefNum": _text(row.get("other_ref_num")),
        "customer": ref(row.get("customer_ref"), row.get("customer_external_id")),
        "currency": ref(row.get("currency_ref")),
        "tranDate": _day(row.get("tran_date")),
        "payment": format_amount(row.get("payment"), exponent),
        "apply": {
            "items": [
                {
                    "doc": ref(row.get("apply_doc_ref"), row.get("apply_doc_external_id")),
                    "apply": True,
                    "amount": format_amount(row.get("apply_amount"), exponent),
                }
            ]
        },
    }


def create_body(
    row: Mapping[str, Any], lines: Sequence[Mapping[str, Any]] = ()
) -> dict[str, Any] | None:
    """The full record body of a create row of `erp_corrections` (None for other actions or
    a record type it cannot build)."""
    if str(row.get("action") or "") != "create":
        return None
    record_type = str(row.get("record_type") or "").lower()
    if record_type == "customer":
        return customer_body(row)
    if record_type == "invoice":
        return invoice_body(row, lines)
    if record_type == "customerpayment":
        return payment_body(row)
    return None
