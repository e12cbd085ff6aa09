"""NetSuite REST record API over erp.sqlite: customer, invoice, customerpayment, creditmemo.

Record JSON uses NetSuite's camelCase field names and maps onto the SuiteQL tables. Writes
answer 204 with a `Location` header. Sandbox extensions (documented, not in NetSuite):

- Optimistic concurrency: GET sends `ETag: "<version>"`; PATCH/PUT/DELETE/transform with an
  `If-Match` that does not match get 412. Every write bumps the version of each record it
  changes (a payment bumps the invoices it is applied to).
- Bookkeeping: every accepted write appends one row to `_write_log`. Writes that change
  nothing, namely idempotent replays (`outcome='replayed'`) and refused requests
  (`outcome='rejected'`), go to `_write_unapplied` instead, so `count(*) from _write_log` is
  exactly what landed.
- Idempotency: a repeated `X-NetSuite-Idempotency-Key` returns the first answer (204 and the
  same `Location`) and applies nothing; the same key on a different request is a 400. Only
  accepted writes store their key, so a refused request may be retried with the same key.
- Sublists: GET embeds `item` / `apply` lines (as with `expandSubResources=true`); a PATCH
  that sends a sublist replaces it whole.

As in NetSuite, a customerpayment names its customer `customer` (invoices and credit memos use
`entity`). New payments get status C (Deposited) and no `foreignamountunpaid`, like the
generator's; invoices go A -> B when their open amount reaches 0; credit memos A -> B when
fully applied. References accept `{"id": ...}` or `{"externalId": ...}`.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from sandbox.erp.core import NetSuiteError, connect, json_response, loads, read_clock
from sandbox.schema import ERP_INTERNAL_DDL, SandboxPaths

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


# --------------------------------------------------------------------------------------
# Reading records
# --------------------------------------------------------------------------------------


def _ref(ctx_base: str, rtype: str, rid: Any, ref_name: str | None = None) -> dict[str, Any] | None:
    if rid is None:
        return None
    out: dict[str, Any] = {
        "links": [{"rel": "self", "href": f"{ctx_base}{RECORD_PREFIX}/{rtype}/{rid}"}],
        "id": str(rid),
    }
    if ref_name is not None:
        out["refName"] = ref_name
    return out


def _name(con: sqlite3.Connection, table: str, column: str, rid: Any) -> str | None:
    if rid is None:
        return None
    row = _row(con, f'select "{column}" from "{table}" where id=?', (rid,))
    return None if row is None else row[0]


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


def read_customer(con: sqlite3.Connection, base: str, rid: int) -> dict[str, Any] | None:
    """A customer record as NetSuite's REST API returns it, or None."""
    r = _row(con, "select * from customer where id=?", (rid,))
    if r is None:
        return None
    return _drop_none(
        {
            "links": [{"rel": "self", "href": f"{base}{RECORD_PREFIX}/customer/{rid}"}],
            "id": str(r["id"]),
            "entityId": r["entityid"],
            "companyName": r["companyname"],
            "externalId": r["externalid"],
            "email": r["email"],
            "subsidiary": _ref(
                base,
                "subsidiary",
                r["subsidiary"],
                _name(con, "subsidiary", "name", r["subsidiary"]),
            ),
            "currency": _ref(
                base, "currency", r["currency"], _name(con, "currency", "name", r["currency"])
            ),
            "terms": _ref(base, "term", r["terms"]),
            "custentity_cl_tax_id": r["custentity_cl_tax_id"],
            "isInactive": None if r["isinactive"] is None else r["isinactive"] == "T",
            "dateCreated": _iso(r["datecreated"]),
            "lastModifiedDate": _iso(r["lastmodifieddate"]),
        }
    )


def read_transaction(
    con: sqlite3.Connection, base: str, rtype: str, rid: int
) -> dict[str, Any] | None:
    """An invoice / customerpayment / creditmemo record, or None (also when of another type)."""
    t = _row(con, 'select * from "transaction" where id=? and type=?', (rid, RECORD_TYPES[rtype]))
    if t is None:
        return None
    lines = con.execute(
        'select * from transactionline where "transaction"=? order by linesequencenumber, id',
        (rid,),
    ).fetchall()
    main = next((ln for ln in lines if ln["mainline"] == "T"), None)
    subsidiary = main["subsidiary"] if main else None
    total = _money(t["foreigntotal"])
    remaining = _money(t["foreignamountunpaid"])
    status_names = STATUS_NAMES.get(t["type"], {})
    out: dict[str, Any] = {
        "links": [{"rel": "self", "href": f"{base}{RECORD_PREFIX}/{rtype}/{rid}"}],
        "id": str(rid),
        "tranId": t["tranid"],
        "tranDate": t["trandate"],
        "externalId": t["externalid"],
        "otherRefNum": t["otherrefnum"],
        "memo": t["memo"],
        "currency": _ref(
            base, "currency", t["currency"], _name(con, "currency", "name", t["currency"])
        ),
        "exchangeRate": _dec(t["exchangerate"]),
        "postingPeriod": _ref(
            base,
            "accountingperiod",
            t["postingperiod"],
            _name(con, "accountingperiod", "periodname", t["postingperiod"]),
        ),
        "subsidiary": _ref(
            base, "subsidiary", subsidiary, _name(con, "subsidiary", "name", subsidiary)
        ),
        "status": None
        if t["status"] is None
        else {"id": t["status"], "refName": status_names.get(t["status"], t["status"])},
        "createdDate": _iso(t["createddate"]),
        "lastModifiedDate": _iso(t["lastmodifieddate"]),
    }
    entity = _ref(base, "customer", t["entity"], _name(con, "customer", "companyname", t["entity"]))
    if rtype == "customerpayment":
        applied = _linked_sum(con, "nextdoc", rid)
        unapplied = None if total is None else total - applied
        out.update(customer=entity, payment=total, applied=applied, unapplied=unapplied)
    else:
        out.update(entity=entity, total=total, amountRemaining=remaining)
        if rtype == "invoice":
            out["dueDate"] = t["duedate"]
        out["item"] = {
            "links": [],
            "items": [
                _drop_none(
                    {
                        "line": ln["id"],
                        "item": _ref(
                            base,
                            "serviceitem",
                            ln["item"],
                            _name(con, "item", "itemid", ln["item"]),
                        ),
                        "quantity": _dec(ln["quantity"]),
                        "rate": _money(ln["rate"]),
                        "amount": _money(ln["foreignamount"]),
                        "description": ln["memo"],
                        "custcol_cl_service_start": ln["custcol_cl_service_start"],
                        "custcol_cl_service_end": ln["custcol_cl_service_end"],
                    }
                )
                for ln in lines
                if ln["mainline"] != "T" and ln["taxline"] != "T"
            ],
        }
    if rtype in ("customerpayment", "creditmemo"):
        links = con.execute(
            "select previousdoc, foreignamount from previoustransactionlink where nextdoc=? "
            "order by previousdoc",
            (rid,),
        ).fetchall()
        out["apply"] = {
            "links": [],
            "items": [
                {
                    "doc": _ref(base, "invoice", ln["previousdoc"]),
                    "apply": True,
                    "amount": _money(ln["foreignamount"]),
                }
                for ln in links
            ],
        }
    return _drop_none(out)


def read_record(con: sqlite3.Connection, base: str, rtype: str, rid: int) -> dict[str, Any] | None:
    """Any supported record by type and internal id, or None."""
    if rtype == "customer":
        return read_customer(con, base, rid)
    return read_transaction(con, base, rtype, rid)


def resolve_id(con: sqlite3.Connection, rtype: str, rid: str) -> int | None:
    """The internal id of `<id>` or `eid:<externalId>` for `rtype`, or None if absent."""
    if rid.startswith("eid:"):
        ext = rid[4:]
        if rtype == "customer":
            row = _row(con, "select id from customer where externalid=? order by id", (ext,))
        else:
            row = _row(
                con,
                'select id from "transaction" where externalid=? and type=? order by id',
                (ext, RECORD_TYPES[rtype]),
            )
        return None if row is None else int(row[0])
    if not (rid.isascii() and rid.isdigit()) or len(rid) > 18:
        raise _bad(f"Invalid record instance id '{rid[:40]}'.", "INVALID_ID")
    rid_int = int(rid)
    if rtype == "customer":
        row = _row(con, "select id from customer where id=?", (rid_int,))
    else:
        row = _row(
            con,
            'select id from "transaction" where id=? and type=?',
            (rid_int, RECORD_TYPES[rtype]),
        )
    return None if row is None else rid_int


# --------------------------------------------------------------------------------------
# Writing: customers
# --------------------------------------------------------------------------------------


def _unique_external(
    con: sqlite3.Connection, rtype: str, ext: str | None, own_id: int | None
) -> None:
    if ext is None:
        return
    if rtype == "customer":
        row = _row(con, "select id from customer where externalid=? and id is not ?", (ext, own_id))
    else:
        row = _row(
            con,
            'select id from "transaction" where externalid=? and type=? and id is not ?',
            (ext, RECORD_TYPES[rtype], own_id),
        )
    if row is not None:
        raise _bad(
            f"A {rtype} record with the external ID '{ext}' already exists (internal id "
            f"{row[0]}). The external ID must be unique for each record type.",
            "DUP_RCRD",
        )


def write_customer(ctx: _Ctx, rid: int | None, body: dict[str, Any]) -> int:
    """Create (rid None) or update a customer from a record body; returns its id."""
    con = ctx.con
    _check_fields(body, set(CUSTOMER_FIELDS), "customer")
    values: dict[str, Any] = {}
    for key, value in body.items():
        col = CUSTOMER_FIELDS[key]
        if key == "subsidiary":
            values[col] = _ref_or_external(con, value, key, "subsidiary")
        elif key == "currency":
            values[col] = _ref_or_external(con, value, key, "currency")
        elif key == "terms":
            values[col] = None if value is None else _ref_id(value, key)
        elif key == "isInactive":
            if not isinstance(value, bool):
                raise _bad("Invalid value for the field 'isInactive': expected true or false.")
            values[col] = "T" if value else "F"
        else:
            values[col] = _string(value, key)
    if rid is None:
        if not values.get("companyname"):
            raise _bad("Please enter a value for the mandatory field 'companyName'.", "USER_ERROR")
        if values.get("subsidiary") is None:
            raise _bad("Please enter a value for the mandatory field 'subsidiary'.", "USER_ERROR")
    _unique_external(con, "customer", values.get("externalid"), rid)
    if rid is None:
        rid = _next_id(con, "customer", "id")
        if values.get("currency") is None:
            sub = _row(con, "select currency from subsidiary where id=?", (values["subsidiary"],))
            values["currency"] = sub[0] if sub else None
        values.setdefault("entityid", values["companyname"])
        values.setdefault("isinactive", "F")
        values.update(id=rid, datecreated=ctx.now, lastmodifieddate=ctx.now)
        cols = ", ".join(f'"{c}"' for c in values)
        con.execute(
            f"insert into customer ({cols}) values ({', '.join('?' * len(values))})",
            tuple(values.values()),
        )
        _set_version(con, "customer", rid)
        return rid
    values["lastmodifieddate"] = ctx.now
    sets = ", ".join(f'"{c}" = ?' for c in values)
    con.execute(f"update customer set {sets} where id=?", (*values.values(), rid))
    _bump(con, "customer", rid)
    return rid


def _set_version(con: sqlite3.Connection, rtype: str, rid: int) -> None:
    con.execute(
        "insert or replace into _record_version (record_type, id, version) values (?, ?, 1)",
        (rtype, rid),
    )


#: `deletedrecord.name` of a deleted transaction: "<label> #<tranid>", as NetSuite lists it.
_DELETED_LABEL = {"invoice": "Invoice", "customerpayment": "Payment", "creditmemo": "Credit Memo"}
#: `deletedrecord.context` of deletes made through this API (NetSuite's REST web services).
DELETE_CONTEXT = "RESTWEBSERVICES"


def _next_id(con: sqlite3.Connection, table: str, col: str) -> int:
    """A new key above every key the table has ever held: NetSuite never reuses an internal
    id, and a reused id would make a connector apply a recorded delete to the new record."""
    top = _row(con, f'select coalesce(max("{col}"), 0) from "{table}"', ())
    retired = _row(con, "select value from _id_highwater where name=?", (f"{table}.{col}",))
    return max(int(top[0]) if top else 0, int(retired[0]) if retired else 0) + 1


def _retire(con: sqlite3.Connection, table: str, col: str, value: Any) -> None:
    """Remember that keys up to `value` of `table.col` were used (their rows are going)."""
    if value is None:
        return
    con.execute(
        "insert into _id_highwater (name, value) values (?, ?) "
        "on conflict (name) do update set value = max(value, excluded.value)",
        (f"{table}.{col}", int(value)),
    )


def _record_deleted(ctx: _Ctx, rtype: str, rid: int, name: str | None) -> None:
    """One `deletedrecord` row, stamped with the sandbox clock, for a record being deleted."""
    ctx.con.execute(
        "insert or replace into deletedrecord (recordid, recordtypeid, name, deleteddate, "
        "context, iscustomlist, iscustomrecord) values (?, ?, ?, ?, ?, 'F', 'F')",
        (rid, rtype, name, ctx.now, DELETE_CONTEXT),
    )


def delete_customer(ctx: _Ctx, rid: int) -> None:
    """Delete a customer that has no transactions; the delete is listed in `deletedrecord`."""
    if _row(ctx.con, 'select 1 from "transaction" where entity=? limit 1', (rid,)):
        raise _bad("This record cannot be deleted because it has dependent records.", "USER_ERROR")
    old = _row(ctx.con, "select entityid, companyname from customer where id=?", (rid,))
    _record_deleted(ctx, "customer", rid, (old[0] or old[1]) if old else None)
    _retire(ctx.con, "customer", "id", rid)
    ctx.con.execute("delete from customer where id=?", (rid,))
    ctx.con.execute("delete from _record_version where record_type='customer' and id=?", (rid,))


# --------------------------------------------------------------------------------------
# Writing: transactions
# --------------------------------------------------------------------------------------


def _period_for(con: sqlite3.Connection, day: str) -> int | None:
    row = _row(
        con,
        "select id from accountingperiod where startdate <= ? and enddate >= ? "
        "and coalesce(isquarter,'F')='F' and coalesce(isyear,'F')='F' order by id limit 1",
        (day, day),
    )
    return None if row is None else int(row[0])


def _period_closed(con: sqlite3.Connection, period: int | None) -> str | None:
    """The period's name when it is closed, else None."""
    if period is None:
        return None
    row = _row(con, "select closed, periodname from accountingperiod where id=?", (period,))
    if row is None or row["closed"] != "T":
        return None
    return row["periodname"] or str(period)


def _closed_error(name: str) -> NetSuiteError:
    return _bad(
        f"You cannot post to, or change the amounts, lines, date, currency or customer of a "
        f"transaction in, the closed accounting period '{name}'.",
        "USER_ERROR",
    )


def _exchange_rate(
    con: sqlite3.Connection, txn_currency: int, sub_currency: int | None, day: str
) -> Decimal:
    """The rate from the transaction currency to the subsidiary's, as of `day`."""
    if sub_currency is None or txn_currency == sub_currency:
        return Decimal(1)

    def rate(cur: int, base: int) -> Decimal | None:
        if cur == base:
            return Decimal(1)
        row = _row(
            con,
            "select exchangerate from currencyrate where transactioncurrency=? and basecurrency=? "
            "and effectivedate <= ? order by effectivedate desc limit 1",
            (cur, base, day),
        )
        return None if row is None else _dec(row[0])

    direct = rate(txn_currency, sub_currency)
    if direct is not None:
        return direct
    bases = [r[0] for r in con.execute("select distinct basecurrency from currencyrate")]
    for base in bases:
        a, b = rate(txn_currency, base), rate(sub_currency, base)
        if a is not None and b:
            return (a / b).quantize(Decimal("0.000001"))
    raise _bad(
        "No exchange rate is available for this currency on this date: send exchangeRate.",
        "USER_ERROR",
    )


@dataclass
class _Line:
    item: int | None
    quantity: Decimal | None
    rate: Decimal | None
    amount: Decimal
    description: str | None
    start: str | None
    end: str | None


def _parse_lines(con: sqlite3.Connection, value: Any, places: int, currency: int) -> list[_Line]:
    if (
        not isinstance(value, dict)
        or set(value) - {"items", "links"}
        or not isinstance(value.get("items"), list)
    ):
        raise _bad("Invalid value for the sublist 'item': expected {\"items\": [...]}.")
    lines: list[_Line] = []
    for n, raw in enumerate(value["items"], 1):
        where = f"item line {n}"
        if not isinstance(raw, dict):
            raise _bad(f"Invalid {where}: expected an object.")
        unknown = set(raw) - LINE_FIELDS - {"line", "links"}
        if unknown:
            raise _bad(f"Invalid field '{sorted(unknown)[0]}' on {where}.", "INVALID_FIELD")
        if "item" not in raw:
            raise _bad(f"Please enter a value for the mandatory field 'item' on {where}.")
        item = _ref_or_external(con, raw["item"], "item", "item")
        qty = _number(raw["quantity"], "quantity") if raw.get("quantity") is not None else None
        rate = _number(raw["rate"], "rate") if raw.get("rate") is not None else None
        if raw.get("amount") is not None:
            amount = _exact(_number(raw["amount"], "amount"), places, "amount", currency)
        elif rate is not None:
            amount = _quantize((qty if qty is not None else Decimal(1)) * rate, places)
        else:
            raise _bad(f"Please enter a value for 'amount' or 'rate' on {where}.")
        start = (
            _date(raw["custcol_cl_service_start"], "custcol_cl_service_start")
            if raw.get("custcol_cl_service_start")
            else None
        )
        end = (
            _date(raw["custcol_cl_service_end"], "custcol_cl_service_end")
            if raw.get("custcol_cl_service_end")
            else None
        )
        lines.append(
            _Line(
                item, qty, rate, amount, _string(raw.get("description"), "description"), start, end
            )
        )
    return lines


def _parse_apply(con: sqlite3.Connection, value: Any) -> list[tuple[int, Decimal | None]]:
    if (
        not isinstance(value, dict)
        or set(value) - {"items", "links"}
        or not isinstance(value.get("items"), list)
    ):
        raise _bad("Invalid value for the sublist 'apply': expected {\"items\": [...]}.")
    out: list[tuple[int, Decimal | None]] = []
    seen: set[int] = set()
    for n, raw in enumerate(value["items"], 1):
        if not isinstance(raw, dict):
            raise _bad(f"Invalid apply line {n}: expected an object.")
        unknown = set(raw) - APPLY_FIELDS - {"links", "line"}
        if unknown:
            raise _bad(f"Invalid field '{sorted(unknown)[0]}' on apply line {n}.", "INVALID_FIELD")
        if "doc" not in raw:
            raise _bad(f"Please enter a value for the mandatory field 'doc' on apply line {n}.")
        # NetSuite takes any reference by internal id or by externalId, apply lines included
        doc = _ref_or_external(con, raw["doc"], "doc", "transaction", " and type = 'CustInvc'")
        flag = raw.get("apply", True)
        if not isinstance(flag, bool):
            raise _bad(f"Invalid value for 'apply' on apply line {n}: expected true or false.")
        if not flag:
            continue
        if doc in seen:
            raise _bad(f"Invoice {doc} appears twice in the apply sublist.")
        seen.add(doc)
        amount = _number(raw["amount"], "amount") if raw.get("amount") is not None else None
        out.append((doc, amount))
    return out


def _unapply(ctx: _Ctx, rid: int) -> None:
    """Remove the applications of payment/credit `rid`, reopening the invoices it paid."""
    con = ctx.con
    links = con.execute(
        "select previousdoc, foreignamount from previoustransactionlink where nextdoc=?", (rid,)
    ).fetchall()
    for link in links:
        inv = _row(
            con, 'select foreignamountunpaid, status from "transaction" where id=?', (link[0],)
        )
        if inv is None:
            continue
        unpaid = (_dec(inv[0]) or Decimal(0)) + _dec(link[1])
        status = inv[1] if inv[1] == "V" else ("B" if unpaid == 0 else "A")
        con.execute(
            'update "transaction" set foreignamountunpaid=?, status=?, lastmodifieddate=? '
            "where id=?",
            (_text(unpaid), status, ctx.now, link[0]),
        )
        _bump(con, "invoice", link[0])
    con.execute("delete from previoustransactionlink where nextdoc=?", (rid,))


def _apply(
    ctx: _Ctx,
    rid: int,
    entity: int,
    currency: int,
    available: Decimal,
    applies: list[tuple[int, Decimal | None]],
    linktype: str,
    places: int,
) -> Decimal:
    """Apply payment/credit `rid` to invoices; returns the amount applied."""
    con = ctx.con
    applied = Decimal(0)
    for doc, amount in applies:
        inv = _row(
            con,
            'select entity, currency, foreignamountunpaid, status, type from "transaction" '
            "where id=?",
            (doc,),
        )
        if inv is None or inv["type"] != "CustInvc":
            raise _bad(f"Invalid apply line: invoice {doc} does not exist.", "INVALID_KEY_OR_REF")
        if inv["status"] == "V":
            raise _bad(f"Invalid apply line: invoice {doc} is voided.", "USER_ERROR")
        if inv["entity"] != entity or inv["currency"] != currency:
            raise _bad(
                f"Invalid apply line: invoice {doc} belongs to another customer or currency.",
                "USER_ERROR",
            )
        unpaid = _dec(inv["foreignamountunpaid"]) or Decimal(0)
        if amount is None:
            amount = min(unpaid, available - applied)
        amount = _exact(amount, places, "amount", currency)
        if amount <= 0 or amount > unpaid:
            raise _bad(
                f"Invalid apply line: {amount} is not between 0 and the open amount {unpaid} of "
                f"invoice {doc}.",
                "USER_ERROR",
            )
        applied += amount
        if applied > available:
            raise _bad(
                f"The amounts applied ({applied}) exceed the amount of the transaction "
                f"({available}).",
                "USER_ERROR",
            )
        left = unpaid - amount
        con.execute(
            'update "transaction" set foreignamountunpaid=?, status=?, lastmodifieddate=? '
            "where id=?",
            (_text(left), "B" if left == 0 else "A", ctx.now, doc),
        )
        _bump(con, "invoice", doc)
        con.execute(
            "insert into previoustransactionlink (previousdoc, nextdoc, linktype, foreignamount, "
            "lastmodifieddate) values (?, ?, ?, ?, ?)",
            (doc, rid, linktype, _text(amount), ctx.now),
        )
    return applied


def write_transaction(ctx: _Ctx, rtype: str, rid: int | None, body: dict[str, Any]) -> int:
    """Create (rid None) or update an invoice, customerpayment or creditmemo."""
    con = ctx.con
    ttype = RECORD_TYPES[rtype]
    assert ttype is not None
    _check_fields(body, TXN_FIELDS[rtype], rtype)
    old = _row(con, 'select * from "transaction" where id=?', (rid,)) if rid is not None else None
    entity_key = "customer" if rtype == "customerpayment" else "entity"

    if old is not None and FINANCIAL_FIELDS & set(body):
        closed = _period_closed(con, old["postingperiod"])
        if closed:
            raise _closed_error(closed)

    # -- header -----------------------------------------------------------------------
    if entity_key in body:
        entity = _ref_or_external(con, body[entity_key], entity_key, "customer")
    elif old is not None:
        entity = old["entity"]
    else:
        raise _bad(f"Please enter a value for the mandatory field '{entity_key}'.", "USER_ERROR")
    cust = _row(con, "select subsidiary, currency from customer where id=?", (entity,))
    subsidiary = cust["subsidiary"] if cust else None
    sub_currency = _row(con, "select currency from subsidiary where id=?", (subsidiary,))
    sub_currency_id = sub_currency[0] if sub_currency else None

    trandate = (
        _date(body["tranDate"], "tranDate")
        if "tranDate" in body
        else (old["trandate"] if old is not None else ctx.today)
    )
    if "currency" in body:
        currency = _ref_or_external(con, body["currency"], "currency", "currency")
    elif old is not None:
        currency = old["currency"]
    else:
        currency = cust["currency"] if cust and cust["currency"] is not None else sub_currency_id
    if currency is None:
        raise _bad("Please enter a value for the mandatory field 'currency'.", "USER_ERROR")
    places = _precision(con, currency)

    if "exchangeRate" in body:
        rate = _number(body["exchangeRate"], "exchangeRate")
        if rate <= 0:
            raise _bad("Invalid value for the field 'exchangeRate': it must be positive.")
    elif old is not None and not ({"currency", "tranDate", entity_key} & set(body)):
        rate = _dec(old["exchangerate"]) or Decimal(1)
    else:
        rate = _exchange_rate(con, currency, sub_currency_id, trandate)

    if "postingPeriod" in body:
        period: int | None = _ref_or_external(
            con, body["postingPeriod"], "postingPeriod", "accountingperiod"
        )
    elif old is not None and "tranDate" not in body:
        period = old["postingperiod"]
    else:
        period = _period_for(con, trandate)
    if (old is None or FINANCIAL_FIELDS & set(body)) and (closed := _period_closed(con, period)):
        raise _closed_error(closed)

    header: dict[str, Any] = {}
    for key, col in (("memo", "memo"), ("otherRefNum", "otherrefnum"), ("tranId", "tranid")):
        if key in body:
            header[col] = _string(body[key], key)
    if "externalId" in body:
        header["externalid"] = _string(body["externalId"], "externalId", 300)
        _unique_external(con, rtype, header["externalid"], rid)
    if "dueDate" in body:
        header["duedate"] = None if body["dueDate"] is None else _date(body["dueDate"], "dueDate")

    # -- amounts ------------------------------------------------------------------------
    lines: list[_Line] | None = None
    if "item" in body:
        lines = _parse_lines(con, body["item"], places, currency)
    elif old is None and rtype != "customerpayment":
        raise _bad("Please enter at least one line in the sublist 'item'.", "USER_ERROR")
    if rtype == "customerpayment":
        if "payment" in body:
            total = _exact(_number(body["payment"], "payment"), places, "payment", currency)
            if total <= 0:
                raise _bad("Invalid value for the field 'payment': it must be positive.")
        elif old is not None:
            total = _dec(old["foreigntotal"]) or Decimal(0)
        else:
            raise _bad("Please enter a value for the mandatory field 'payment'.", "USER_ERROR")
    elif lines is not None:
        total = sum((ln.amount for ln in lines), Decimal(0))
    else:
        assert old is not None
        total = _dec(old["foreigntotal"]) or Decimal(0)

    new = old is None
    if new:
        rid = _next_id(con, "transaction", "id")
        header.setdefault("tranid", _next_tranid(con, ttype))
        con.execute(
            'insert into "transaction" (id, type, createddate, voided) values (?, ?, ?, ?)',
            (rid, ttype, ctx.now, "F"),
        )
        _set_version(con, rtype, rid)
    else:
        _bump(con, rtype, rid)
    assert rid is not None
    header.update(
        entity=entity,
        trandate=trandate,
        currency=currency,
        exchangerate=float(rate),
        postingperiod=period,
        foreigntotal=_text(total),
        lastmodifieddate=ctx.now,
    )

    # Lines: rewrite when the lines, the amount or anything copied onto them changed.
    if new or lines is not None or FINANCIAL_FIELDS & set(body):
        if lines is None and not new:
            lines = _existing_lines(con, rid)
        _write_lines(
            ctx, rid, lines or [], total, rate, subsidiary, entity, header, sub_currency_id
        )

    # -- applications and the open amount ------------------------------------------------
    if rtype == "invoice":
        paid = _linked_sum(con, "previousdoc", rid)
        if total < paid:
            raise _bad(
                f"The invoice total {total} would be less than the {paid} already paid on it.",
                "USER_ERROR",
            )
        unpaid = total - paid
        status = "V" if old is not None and old["status"] == "V" else ("B" if unpaid == 0 else "A")
        header.update(foreignamountunpaid=_text(unpaid), status=status)
    else:
        if "apply" in body or new:
            _unapply(ctx, rid)
            applies = _parse_apply(con, body["apply"]) if "apply" in body else []
            linktype = "Payment" if rtype == "customerpayment" else "Credit Memo"
            _apply(ctx, rid, entity, currency, total, applies, linktype, places)
        applied = _linked_sum(con, "nextdoc", rid)
        if applied > total:
            raise _bad(
                f"The amount {total} would be less than the {applied} already applied.",
                "USER_ERROR",
            )
        left = total - applied
        if rtype == "creditmemo":
            header.update(foreignamountunpaid=_text(left), status="B" if left == 0 else "A")
        else:
            # As the legacy integration's payments: deposited, no open amount on the header
            # (the unapplied part shows on the record as `unapplied`).
            status = old["status"] if old is not None and old["status"] else "C"
            header.update(foreignamountunpaid=None, status=status)

    sets = ", ".join(f'"{c}" = ?' for c in header)
    con.execute(f'update "transaction" set {sets} where id=?', (*header.values(), rid))
    return rid


def _next_tranid(con: sqlite3.Connection, ttype: str) -> str:
    """The next document number of the type: highest existing number + 1 (`INV0001235`)."""
    prefix = TRANID_PREFIX[ttype]
    row = _row(
        con,
        'select max(cast(substr(tranid, ?) as integer)) from "transaction" '
        "where type = ? and tranid like ? and substr(tranid, ?) glob '[0-9]*'",
        (len(prefix) + 1, ttype, prefix + "%", len(prefix) + 1),
    )
    return f"{prefix}{int(row[0] or 0) + 1:07d}"


def _linked_sum(con: sqlite3.Connection, side: str, rid: int) -> Decimal:
    total = Decimal(0)
    for (amount,) in con.execute(
        f"select foreignamount from previoustransactionlink where {side}=?", (rid,)
    ):
        total += _dec(amount) or Decimal(0)
    return total


def _existing_lines(con: sqlite3.Connection, rid: int) -> list[_Line]:
    rows = con.execute(
        "select * from transactionline where \"transaction\"=? and mainline='F' "
        "and coalesce(taxline,'F')='F' order by linesequencenumber, id",
        (rid,),
    ).fetchall()
    return [
        _Line(
            r["item"],
            _dec(r["quantity"]),
            _dec(r["rate"]),
            _dec(r["foreignamount"]) or Decimal(0),
            r["memo"],
            r["custcol_cl_service_start"],
            r["custcol_cl_service_end"],
        )
        for r in rows
    ]


def _write_lines(
    ctx: _Ctx,
    rid: int,
    lines: list[_Line],
    total: Decimal,
    rate: Decimal,
    subsidiary: int | None,
    entity: int,
    header: dict[str, Any],
    sub_currency: int | None,
) -> None:
    con = ctx.con
    sub_places = _precision(con, sub_currency) if sub_currency is not None else 2
    top = _row(con, 'select max(uniquekey) from transactionline where "transaction"=?', (rid,))
    _retire(con, "transactionline", "uniquekey", top[0] if top else None)
    con.execute('delete from transactionline where "transaction"=?', (rid,))
    next_key = _next_id(con, "transactionline", "uniquekey")
    rows = [
        (next_key, 0, rid, 0, "T", "F", None, None, None, _text(total),
         _text(_quantize(total * rate, sub_places)), subsidiary, entity, header.get("memo"),
         None, None, ctx.now)
    ]  # fmt: skip
    for n, ln in enumerate(lines, 1):
        rows.append(
            (next_key + n, n, rid, n, "F", "F", ln.item,
             None if ln.quantity is None else float(ln.quantity),
             None if ln.rate is None else _text(ln.rate), _text(ln.amount),
             _text(_quantize(ln.amount * rate, sub_places)), subsidiary, entity, ln.description,
             ln.start, ln.end, ctx.now)
        )  # fmt: skip
    con.executemany(
        'insert into transactionline (uniquekey, id, "transaction", linesequencenumber, '
        "mainline, taxline, item, quantity, rate, foreignamount, netamount, subsidiary, entity, "
        "memo, custcol_cl_service_start, custcol_cl_service_end, linelastmodifieddate) "
        "values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )


def delete_transaction(ctx: _Ctx, rtype: str, rid: int) -> None:
    """Delete a transaction; payments and credits are unapplied first, invoices must be unpaid."""
    con = ctx.con
    old = _row(con, 'select postingperiod from "transaction" where id=?', (rid,))
    closed = _period_closed(con, old["postingperiod"] if old else None)
    if closed:
        raise _closed_error(closed)
    if rtype == "invoice" and _row(
        con, "select 1 from previoustransactionlink where previousdoc=? limit 1", (rid,)
    ):
        raise _bad(
            "This record cannot be deleted because it has dependent records (payments or "
            "credits applied to it).",
            "USER_ERROR",
        )
    _unapply(ctx, rid)
    tranid = _row(con, 'select tranid from "transaction" where id=?', (rid,))
    label = _DELETED_LABEL.get(rtype, rtype)
    _record_deleted(ctx, rtype, rid, f"{label} #{tranid[0]}" if tranid and tranid[0] else label)
    _retire(con, "transaction", "id", rid)
    top = _row(con, 'select max(uniquekey) from transactionline where "transaction"=?', (rid,))
    _retire(con, "transactionline", "uniquekey", top[0] if top else None)
    con.execute('delete from transactionline where "transaction"=?', (rid,))
    con.execute('delete from "transaction" where id=?', (rid,))
    con.execute("delete from _record_version where record_type=? and id=?", (rtype, rid))


def transform_to_creditmemo(ctx: _Ctx, invoice_id: int, body: dict[str, Any]) -> int:
    """NetSuite's invoice -> credit memo transform: credit the open amount, apply it, close.

    Returns:
        The new credit memo's internal id.
    """
    con = ctx.con
    allowed = {"memo", "tranDate", "externalId", "otherRefNum", "tranId", "postingPeriod"}
    _check_fields(body, allowed, "creditmemo")
    inv = _row(con, 'select * from "transaction" where id=?', (invoice_id,))
    assert inv is not None
    if inv["status"] == "V":
        raise _bad("You cannot credit a voided invoice.", "USER_ERROR")
    open_amount = _dec(inv["foreignamountunpaid"]) or Decimal(0)
    if open_amount <= 0:
        raise _bad(
            f"Invoice {invoice_id} has no open amount to credit: it is already paid in full.",
            "USER_ERROR",
        )
    lines = _existing_lines(con, invoice_id)
    places = _precision(con, inv["currency"])
    if open_amount != (_dec(inv["foreigntotal"]) or Decimal(0)) or not lines:
        first_item = lines[0].item if lines else None
        if first_item is None:
            row = _row(con, "select id from item order by id limit 1", ())
            first_item = row[0] if row else None
        lines = [
            _Line(first_item, Decimal(1), open_amount, _exact(open_amount, places, "amount", 0),
                  f"Credit of the open balance of {inv['tranid']}", None, None)
        ]  # fmt: skip
    cm_body: dict[str, Any] = {
        "entity": {"id": str(inv["entity"])},
        "currency": {"id": str(inv["currency"])},
        "exchangeRate": _dec(inv["exchangerate"]) or Decimal(1),
        "item": {
            "items": [
                _drop_none(
                    {
                        "item": None if ln.item is None else {"id": str(ln.item)},
                        "quantity": ln.quantity,
                        "rate": ln.rate,
                        "amount": ln.amount,
                        "description": ln.description,
                        "custcol_cl_service_start": ln.start,
                        "custcol_cl_service_end": ln.end,
                    }
                )
                for ln in lines
            ]
        },
        "apply": {
            "items": [{"doc": {"id": str(invoice_id)}, "apply": True, "amount": open_amount}]
        },
    }
    cm_body.update(body)
    return write_transaction(ctx, "creditmemo", None, cm_body)


# --------------------------------------------------------------------------------------
# HTTP plumbing
# --------------------------------------------------------------------------------------


def _base(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}"


def _check_type(rtype: str) -> None:
    if rtype not in RECORD_TYPES:
        raise NetSuiteError(
            404,
            f"Record type '{rtype}' does not exist or is not supported by the sandbox "
            f"(supported: {', '.join(RECORD_TYPES)}).",
            "NONEXISTENT_ID",
        )


def _parse_body(raw: bytes, required: bool = True) -> dict[str, Any]:
    if len(raw) > MAX_BODY_BYTES:
        raise NetSuiteError(413, "The request body is too large.", "INVALID_CONTENT")
    if not raw.strip():
        if required:
            raise _bad("The request body is empty: send the record as a JSON object.")
        return {}
    try:
        body = loads(raw)
    except ValueError:
        raise _bad(
            "Invalid content in the request body: not valid JSON.", "INVALID_CONTENT"
        ) from None
    if not isinstance(body, dict):
        raise _bad("Invalid content in the request body: expected a JSON object.")
    return body


@dataclass
class _WriteRequest:
    method: str
    path: str
    rtype: str
    rid: str | None
    raw_body: bytes
    idem_key: str | None
    if_match: str | None
    base: str
    body_required: bool


def _log_unapplied(
    paths: SandboxPaths, req: _WriteRequest, now: str, status: int, outcome: str
) -> None:
    con = connect(paths)
    try:
        # A database generated before this table existed gets it now.
        con.executescript(ERP_INTERNAL_DDL)
        con.execute(
            "insert into _write_unapplied (at, method, path, idempotency_key, request_body, "
            "status, outcome) values (?, ?, ?, ?, ?, ?, ?)",
            (now, req.method, req.path, req.idem_key, req.raw_body.decode("utf-8", "replace"),
             status, outcome),
        )  # fmt: skip
    finally:
        con.close()


def _fingerprint(method: str, path: str, body: str) -> str:
    return hashlib.sha256(f"{method} {path} {body}".encode()).hexdigest()


def _do_write(
    paths: SandboxPaths,
    req: _WriteRequest,
    op: Callable[[_Ctx, dict[str, Any]], tuple[str, int | None, int]],
) -> tuple[int, str | None]:
    """Run one write in a transaction: idempotency, the operation, versions, the write log."""
    now = read_clock(paths).strftime("%Y-%m-%d %H:%M:%S")
    con = connect(paths)
    con.row_factory = sqlite3.Row
    body_text = req.raw_body.decode("utf-8", "replace")
    try:
        con.execute("BEGIN IMMEDIATE")
        if req.idem_key is not None:
            prior = _row(
                con, "select status, location from _idempotency where key=?", (req.idem_key,)
            )
            if prior is not None:
                first = _row(
                    con,
                    "select method, path, request_body from _write_log where idempotency_key=? "
                    "order by seq limit 1",
                    (req.idem_key,),
                )
                if first is not None and _fingerprint(*first) != _fingerprint(
                    req.method, req.path, body_text
                ):
                    raise _bad(
                        "The idempotency key was already used for a different request.",
                        "INVALID_PARAMETER",
                    )
                con.execute("ROLLBACK")
                _log_unapplied(paths, req, now, int(prior[0]), "replayed")
                return int(prior[0]), prior[1]
        ctx = _Ctx(con, now, req.base)
        body = _parse_body(req.raw_body, required=req.body_required)
        if req.method == "DELETE" and body:
            raise _bad("A DELETE request takes no body.")
        rtype, rec_id, status = op(ctx, body)
        location = ctx.url(rtype, rec_id) if rec_id is not None and req.method != "DELETE" else None
        ext = None
        if rec_id is not None and req.method != "DELETE":
            table = "customer" if rtype == "customer" else "transaction"
            ext = _row(con, f'select externalid from "{table}" where id=?', (rec_id,))[0]
        con.execute(
            "insert into _write_log (at, method, path, record_type, record_id, external_id, "
            "idempotency_key, request_body, status) values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (now, req.method, req.path, rtype, rec_id, ext, req.idem_key, body_text, status),
        )
        if req.idem_key is not None:
            con.execute(
                "insert into _idempotency (key, status, location, at) values (?, ?, ?, ?)",
                (req.idem_key, status, location, now),
            )
        con.execute("COMMIT")
        return status, location
    except NetSuiteError as exc:
        if con.in_transaction:
            con.execute("ROLLBACK")
        _log_unapplied(paths, req, now, exc.status, "rejected")
        raise
    except BaseException:
        if con.in_transaction:
            con.execute("ROLLBACK")
        raise
    finally:
        con.close()


async def _write(
    request: Request,
    op: Callable[[_Ctx, dict[str, Any]], tuple[str, int | None, int]],
    body_required: bool = True,
) -> Response:
    if request.query_params:
        unknown = sorted(set(request.query_params) - {"replace"})
        if unknown:
            raise _bad(f"Invalid query parameter '{unknown[0]}'.")
    req = _WriteRequest(
        method=request.method,
        path=request.url.path,
        rtype=request.path_params.get("rtype", ""),
        rid=request.path_params.get("rid"),
        raw_body=await request.body(),
        idem_key=request.headers.get("x-netsuite-idempotency-key"),
        if_match=request.headers.get("if-match"),
        base=_base(request),
        body_required=body_required and request.method != "DELETE",
    )
    if req.idem_key is not None and not 1 <= len(req.idem_key) <= 128:
        raise _bad("The X-NetSuite-Idempotency-Key header must be 1 to 128 characters.")
    status, location = await run_in_threadpool(_do_write, request.app.state.paths, req, op)
    headers = {"Location": location} if location else {}
    return Response(status_code=status, headers=headers)


def _existing(ctx: _Ctx, rtype: str, rid: str, if_match: str | None) -> int:
    found = resolve_id(ctx.con, rtype, rid)
    if found is None:
        raise _not_found()
    _check_if_match(ctx.con, rtype, found, if_match)
    return found


async def collection_endpoint(request: Request) -> Response:
    """`POST /services/rest/record/v1/<type>`: create a record."""
    rtype = request.path_params["rtype"]
    _check_type(rtype)

    def op(ctx: _Ctx, body: dict[str, Any]) -> tuple[str, int | None, int]:
        if rtype == "customer":
            return rtype, write_customer(ctx, None, body), 204
        return rtype, write_transaction(ctx, rtype, None, body), 204

    return await _write(request, op)


async def instance_endpoint(request: Request) -> Response:
    """`GET|PATCH|PUT|DELETE /services/rest/record/v1/<type>/<id or eid:ext>`."""
    rtype = request.path_params["rtype"]
    rid = request.path_params["rid"]
    _check_type(rtype)
    method = request.method
    if method == "GET":
        return await _get(request, rtype, rid)
    if method == "PUT" and not rid.startswith("eid:"):
        raise _bad(
            "PUT is only supported as an upsert by external ID: use "
            f"{RECORD_PREFIX}/{rtype}/eid:<externalId>, or PATCH to update by internal ID.",
            "INVALID_REQUEST",
        )
    if rid.startswith("eid:") and not rid[4:]:
        raise _bad("The external ID after 'eid:' is empty.", "INVALID_ID")
    if_match = request.headers.get("if-match")

    def write(ctx: _Ctx, found: int | None, body: dict[str, Any]) -> int:
        if rtype == "customer":
            return write_customer(ctx, found, body)
        return write_transaction(ctx, rtype, found, body)

    def op(ctx: _Ctx, body: dict[str, Any]) -> tuple[str, int | None, int]:
        if method == "PUT":
            ext = rid[4:]
            if "externalId" in body and body["externalId"] != ext:
                raise _bad("The externalId in the body differs from the one in the URL.")
            body = {**body, "externalId": ext}
            found = resolve_id(ctx.con, rtype, rid)
            if found is not None:
                _check_if_match(ctx.con, rtype, found, if_match)
            elif if_match is not None and if_match.strip() != "*":
                raise _check_missing_if_match()
            return rtype, write(ctx, found, body), 204
        found = _existing(ctx, rtype, rid, if_match)
        if method == "PATCH":
            return rtype, write(ctx, found, body), 204
        if rtype == "customer":
            delete_customer(ctx, found)
        else:
            delete_transaction(ctx, rtype, found)
        return rtype, found, 204

    return await _write(request, op)


def _check_missing_if_match() -> NetSuiteError:
    return NetSuiteError(
        412, "If-Match was sent but the record does not exist.", "PRECONDITION_FAILED"
    )


async def transform_endpoint(request: Request) -> Response:
    """`POST /services/rest/record/v1/invoice/<id>/!transform/creditmemo`."""
    rtype = request.path_params["rtype"]
    target = request.path_params["target"]
    rid = request.path_params["rid"]
    _check_type(rtype)
    if rtype != "invoice" or target != "creditmemo":
        raise _bad(
            f"The transformation from '{rtype}' to '{target}' is not supported by the sandbox "
            "(supported: invoice to creditmemo).",
            "INVALID_TRANSFORM",
        )
    if_match = request.headers.get("if-match")

    def op(ctx: _Ctx, body: dict[str, Any]) -> tuple[str, int | None, int]:
        found = _existing(ctx, "invoice", rid, if_match)
        return "creditmemo", transform_to_creditmemo(ctx, found, body), 204

    # A transform may come without a body: every field then takes its default.
    return await _write(request, op, body_required=False)


def _get_sync(paths: SandboxPaths, rtype: str, rid: str, base: str) -> tuple[dict[str, Any], int]:
    con = connect(paths)
    con.row_factory = sqlite3.Row
    try:
        con.execute("BEGIN")
        found = resolve_id(con, rtype, rid)
        record = read_record(con, base, rtype, found) if found is not None else None
        if record is None or found is None:
            raise _not_found()
        version = _version(con, rtype, found)
        con.execute("COMMIT")
        return record, version
    finally:
        con.close()


async def _get(request: Request, rtype: str, rid: str) -> Response:
    unknown = sorted(set(request.query_params) - {"expandSubResources"})
    if unknown:
        raise _bad(f"Invalid query parameter '{unknown[0]}'.")
    expand = request.query_params.get("expandSubResources", "false").lower()
    if expand not in ("true", "false"):
        raise _bad("Invalid value for the parameter 'expandSubResources': use true or false.")
    record, version = await run_in_threadpool(
        _get_sync, request.app.state.paths, rtype, rid, _base(request)
    )
    return json_response(record, headers={"ETag": f'"{version}"'})
