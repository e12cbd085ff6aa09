"""What every part of the NetSuite record API shares: record types, fields, errors, versions."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sandbox.erp.core import NetSuiteError

RECORD_PREFIX = "/services/rest/record/v1"
#: Record type -> `transaction.type` (None: the customer entity).
RECORD_TYPES: dict[str, str | None] = {
    "customer": None,
    "invoice": "CustInvc",
    "customerpayment": "CustPymt",
    "creditmemo": "CustCred",
}
TYPE_TO_RECORD = {v: k for k, v in RECORD_TYPES.items() if v}
STATUS_NAMES = {
    "CustInvc": {"A": "Open", "B": "Paid In Full", "V": "Voided"},
    "CustPymt": {"A": "Unapproved Payment", "B": "Not Deposited", "C": "Deposited"},
    "CustCred": {"A": "Open", "B": "Fully Applied", "V": "Voided"},
}
TRANID_PREFIX = {"CustInvc": "INV", "CustPymt": "PYMT", "CustCred": "CM"}
MAX_BODY_BYTES = 1_000_000

CUSTOMER_FIELDS = {
    "companyName": "companyname",
    "entityId": "entityid",
    "email": "email",
    "externalId": "externalid",
    "subsidiary": "subsidiary",
    "currency": "currency",
    "terms": "terms",
    "custentity_cl_tax_id": "custentity_cl_tax_id",
    "isInactive": "isinactive",
}
_TXN_COMMON = {
    "tranId",
    "tranDate",
    "currency",
    "exchangeRate",
    "postingPeriod",
    "externalId",
    "otherRefNum",
    "memo",
}
TXN_FIELDS = {
    "invoice": _TXN_COMMON | {"entity", "dueDate", "item"},
    "creditmemo": _TXN_COMMON | {"entity", "item", "apply"},
    "customerpayment": _TXN_COMMON | {"customer", "payment", "apply"},
}
#: Fields a closed posting period freezes (amounts, lines, date, currency, customer).
FINANCIAL_FIELDS = {
    "entity",
    "customer",
    "tranDate",
    "currency",
    "exchangeRate",
    "postingPeriod",
    "item",
    "apply",
    "payment",
}
READ_ONLY_FIELDS = {
    "id",
    "links",
    "total",
    "amountRemaining",
    "status",
    "subsidiary",
    "createdDate",
    "lastModifiedDate",
    "dateCreated",
    "applied",
    "unapplied",
}
LINE_FIELDS = {
    "item",
    "quantity",
    "rate",
    "amount",
    "description",
    "custcol_cl_service_start",
    "custcol_cl_service_end",
}
APPLY_FIELDS = {"doc", "apply", "amount"}


# --------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------


def _bad(detail: str, code: str = "INVALID_PARAMETER") -> NetSuiteError:
    return NetSuiteError(400, detail, code)


def _not_found() -> NetSuiteError:
    return NetSuiteError(
        404,
        "The record instance does not exist. Provide a valid record instance ID.",
        "NONEXISTENT_ID",
    )


def _iso(stored: str | None) -> str | None:
    """A stored datetime as the REST API writes it: `2025-01-15T10:00:00Z`."""
    return None if stored is None else stored.replace(" ", "T")[:19] + "Z"


def _dec(text: Any) -> Decimal | None:
    if text is None:
        return None
    if isinstance(text, float):
        return Decimal(repr(text))
    return Decimal(str(text))


def _money(text: Any) -> Decimal | None:
    return _dec(text)


@dataclass
class _Ctx:
    """What one write needs besides its body."""

    con: sqlite3.Connection
    now: str  # 'YYYY-MM-DD HH:MM:SS' (the sandbox clock)
    base: str  # scheme://host

    @property
    def today(self) -> str:
        return self.now[:10]

    def url(self, rtype: str, rid: int) -> str:
        return f"{self.base}{RECORD_PREFIX}/{rtype}/{rid}"


def _row(con: sqlite3.Connection, sql: str, params: tuple[Any, ...]) -> sqlite3.Row | None:
    return con.execute(sql, params).fetchone()


# --------------------------------------------------------------------------------------
# Record versions (optimistic concurrency: ETag and If-Match)
# --------------------------------------------------------------------------------------


def _version(con: sqlite3.Connection, rtype: str, rid: int) -> int:
    row = _row(
        con, "select version from _record_version where record_type=? and id=?", (rtype, rid)
    )
    return int(row[0]) if row else 1


def _bump(con: sqlite3.Connection, rtype: str, rid: int) -> None:
    con.execute(
        "insert into _record_version (record_type, id, version) values (?, ?, 2) "
        "on conflict (record_type, id) do update set version = version + 1",
        (rtype, rid),
    )


def _set_version(con: sqlite3.Connection, rtype: str, rid: int) -> None:
    con.execute(
        "insert or replace into _record_version (record_type, id, version) values (?, ?, 1)",
        (rtype, rid),
    )


def _check_if_match(con: sqlite3.Connection, rtype: str, rid: int, if_match: str | None) -> None:
    if if_match is None:
        return
    current = _version(con, rtype, rid)
    wanted = [t.strip().removeprefix("W/").strip('"') for t in if_match.split(",")]
    if "*" in wanted or str(current) in wanted:
        return
    raise NetSuiteError(
        412,
        f"The record has changed since it was read: its version is {current}, If-Match "
        f"asked for {if_match}. Read the record again and retry.",
        "PRECONDITION_FAILED",
    )
