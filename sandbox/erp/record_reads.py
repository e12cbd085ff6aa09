"""Reading NetSuite records out of erp.sqlite as the REST API returns them."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from typing import Any

from sandbox.erp.record_common import (
    RECORD_PREFIX,
    RECORD_TYPES,
    STATUS_NAMES,
    _bad,
    _dec,
    _iso,
    _money,
    _row,
)

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


def _linked_sum(con: sqlite3.Connection, side: str, rid: int) -> Decimal:
    total = Decimal(0)
    for (amount,) in con.execute(
        f"select foreignamount from previoustransactionlink where {side}=?", (rid,)
    ):
        total += _dec(amount) or Decimal(0)
    return total
