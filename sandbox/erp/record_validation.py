"""Validation of record field values: references, strings, numbers, dates, money."""

from __future__ import annotations

import sqlite3
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from sandbox.erp.record_common import READ_ONLY_FIELDS, _bad, _row


def _ref_id(value: Any, field: str) -> int:
    """The internal id of a reference field value `{"id": "12"}`."""
    if isinstance(value, dict) and set(value) <= {"id", "refName", "links"} and "id" in value:
        raw = value["id"]
        text = str(raw)
        ok = isinstance(raw, str | int) and not isinstance(raw, bool)
        if ok and text.isascii() and text.isdigit() and len(text) <= 18:
            return int(text)
    raise _bad(f'Invalid value for the field \'{field}\': expected a reference like {{"id": "1"}}.')


def _ref_or_external(
    con: sqlite3.Connection, value: Any, field: str, table: str, where: str = ""
) -> int:
    """A reference given by internal id or by `{"externalId": ...}`; must exist in `table`."""
    if (
        isinstance(value, dict)
        and set(value) == {"externalId"}
        and isinstance(value["externalId"], str)
    ):
        row = _row(
            con, f'select id from "{table}" where externalid = ?{where}', (value["externalId"],)
        )
        if row is None:
            raise _bad(f"Invalid value for the field '{field}': no {table} with that externalId.")
        return int(row[0])
    rid = _ref_id(value, field)
    if _row(con, f'select 1 from "{table}" where id = ?{where}', (rid,)) is None:
        raise _bad(f"Invalid value for the field '{field}': {table} {rid} does not exist.")
    return rid


def _string(value: Any, field: str, max_len: int = 4000) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > max_len:
        raise _bad(f"Invalid value for the field '{field}': expected a string.")
    return value


def _number(value: Any, field: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
        raise _bad(f"Invalid value for the field '{field}': expected a number.")
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        raise _bad(f"Invalid value for the field '{field}': expected a number.") from None
    # Beyond these bounds a value is a client bug, and Decimal maths would overflow.
    if not d.is_finite() or (d and (d.adjusted() > 14 or d.as_tuple().exponent < -12)):
        raise _bad(f"Invalid value for the field '{field}': expected a number.")
    return d


def _date(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise _bad(f"Invalid value for the field '{field}': expected a date like 2025-01-31.")
    try:
        return date.fromisoformat(value[:10]).isoformat() if len(value) == 10 else _bad_date(field)
    except ValueError:
        raise _bad(
            f"Invalid value for the field '{field}': expected a date like 2025-01-31."
        ) from None


def _bad_date(field: str) -> str:
    raise _bad(f"Invalid value for the field '{field}': expected a date like 2025-01-31.")


def _check_fields(body: dict[str, Any], allowed: set[str], rtype: str) -> None:
    for key in body:
        if key in allowed:
            continue
        if key in READ_ONLY_FIELDS:
            raise _bad(f"The field '{key}' of record type '{rtype}' is read-only.")
        raise _bad(
            f"Invalid field '{key}': the record type '{rtype}' has no such field.",
            "INVALID_FIELD",
        )


def _precision(con: sqlite3.Connection, currency_id: int) -> int:
    row = _row(con, "select currencyprecision from currency where id=?", (currency_id,))
    return int(row[0]) if row and row[0] is not None else 2


def _quantize(amount: Decimal, places: int) -> Decimal:
    return amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def _exact(amount: Decimal, places: int, field: str, currency_id: int) -> Decimal:
    """An amount that must already be exact in the currency (no silent rounding)."""
    q = _quantize(amount, places)
    if q != amount:
        raise _bad(
            f"Invalid value for the field '{field}': {amount} has more decimals than currency "
            f"{currency_id} allows ({places})."
        )
    return q


def _text(amount: Decimal) -> str:
    return format(amount, "f")
