"""Writing NetSuite records into erp.sqlite: customers, transactions, deletes, the transform."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sandbox.erp.core import NetSuiteError
from sandbox.erp.record_common import (
    APPLY_FIELDS,
    CUSTOMER_FIELDS,
    FINANCIAL_FIELDS,
    LINE_FIELDS,
    RECORD_TYPES,
    TRANID_PREFIX,
    TXN_FIELDS,
    _bad,
    _bump,
    _Ctx,
    _dec,
    _row,
    _set_version,
)
from sandbox.erp.record_reads import _drop_none, _linked_sum
from sandbox.erp.record_validation import (
    _check_fields,
    _date,
    _exact,
    _number,
    _precision,
    _quantize,
    _ref_id,
    _ref_or_external,
    _string,
    _text,
)

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
