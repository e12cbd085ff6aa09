"""The SQLite functions compiled SuiteQL calls: exact decimal maths, dates, TO_CHAR, TO_DATE."""

from __future__ import annotations

import re
import sqlite3
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sandbox.erp import oracle_fmt
from sandbox.erp.suiteql_render import _fmt_number

# --------------------------------------------------------------------------------------
# SQLite functions the compiled SQL calls (exact decimal maths, date helpers)
# --------------------------------------------------------------------------------------


def _dec(value: Any) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, float):
        return Decimal(repr(value))
    try:
        return Decimal(str(value).strip())
    except InvalidOperation:
        return None


def _dstr(value: Decimal | None) -> str | None:
    if value is None:
        return None
    text = format(value, "f")
    return text


def _dcmp(a: Any, b: Any) -> int | None:
    da, db = _dec(a), _dec(b)
    if da is None or db is None:
        return None
    return (da > db) - (da < db)


def _dbinop(op: str):  # type: ignore[no-untyped-def]
    def fn(a: Any, b: Any) -> str | None:
        da, db = _dec(a), _dec(b)
        if da is None or db is None:
            return None
        if op == "+":
            return _dstr(da + db)
        if op == "-":
            return _dstr(da - db)
        if op == "*":
            return _dstr(da * db)
        if db == 0:
            return None  # Oracle raises; NULL keeps a report running and is visible
        return _dstr((da / db).normalize())

    return fn


class _DecSum:
    def __init__(self) -> None:
        self.total: Decimal | None = None
        self.n = 0

    def step(self, value: Any) -> None:
        d = _dec(value)
        if d is not None:
            self.total = d if self.total is None else self.total + d
            self.n += 1

    def finalize(self) -> str | None:
        return _dstr(self.total)


class _DecAvg(_DecSum):
    def finalize(self) -> str | None:
        if self.total is None:
            return None
        return _dstr((self.total / self.n).normalize())


class _DecMax:
    pick = max

    def __init__(self) -> None:
        self.best: Decimal | None = None

    def step(self, value: Any) -> None:
        d = _dec(value)
        if d is not None:
            self.best = d if self.best is None else type(self).pick(self.best, d)

    def finalize(self) -> str | None:
        return _dstr(self.best)


class _DecMin(_DecMax):
    pick = min


#: Stored datetimes already read like this format model (the one connectors use to keep time).
_ISO_MODEL = "YYYY-MM-DD HH24:MI:SS"
_ISO_STORED = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")


def _to_char(value: Any, fmt: str) -> str | None:
    if value is None:
        return None
    if fmt == _ISO_MODEL and isinstance(value, str) and _ISO_STORED.fullmatch(value):
        return value
    try:
        return oracle_fmt.to_char(oracle_fmt.from_stored(str(value)), fmt)
    except ValueError:
        return None


def _to_date(value: Any, fmt: str | None) -> str | None:
    if value is None:
        return None
    try:
        dt = oracle_fmt.parse(str(value), fmt) if fmt else oracle_fmt.parse_loose(str(value))
    except oracle_fmt.FormatError:
        return None
    return dt.strftime("%Y-%m-%d %H:%M:%S")


def _date_add(value: Any, days: Any) -> str | None:
    if value is None or days is None:
        return None
    dt = oracle_fmt.from_stored(str(value)) + timedelta(days=float(days))
    return dt.strftime("%Y-%m-%d %H:%M:%S")


def _date_diff(a: Any, b: Any) -> float | None:
    if a is None or b is None:
        return None
    delta = oracle_fmt.from_stored(str(a)) - oracle_fmt.from_stored(str(b))
    return delta.total_seconds() / 86400


def _fmt_date(value: Any) -> str | None:
    return None if value is None else oracle_fmt.account_date(str(value))


def _dround(value: Any, digits: Any, *, trunc: bool = False) -> str | None:
    d = _dec(value)
    if d is None:
        return None
    exp = Decimal(1).scaleb(-int(digits or 0))
    return _dstr(d.quantize(exp, rounding="ROUND_DOWN" if trunc else "ROUND_HALF_UP"))


def register_functions(con: sqlite3.Connection) -> None:
    """Install the SQLite functions compiled SuiteQL relies on into `con`."""
    con.create_function("cl_dcmp", 2, _dcmp, deterministic=True)
    for name, op in (("cl_dadd", "+"), ("cl_dsub", "-"), ("cl_dmul", "*"), ("cl_ddiv", "/")):
        con.create_function(name, 2, _dbinop(op), deterministic=True)
    con.create_function("cl_dnum", 1, lambda v: _dstr(_dec(v)), deterministic=True)
    con.create_function("cl_dabs", 1, lambda v: _dstr(abs(d) if (d := _dec(v)) else d))
    con.create_function("cl_dround", 2, _dround, deterministic=True)
    con.create_function("cl_dtrunc", 2, lambda v, n: _dround(v, n, trunc=True), deterministic=True)
    con.create_aggregate("cl_dsum", 1, _DecSum)
    con.create_aggregate("cl_davg", 1, _DecAvg)
    con.create_aggregate("cl_dmax", 1, _DecMax)
    con.create_aggregate("cl_dmin", 1, _DecMin)
    con.create_function("cl_to_char", 2, _to_char, deterministic=True)
    con.create_function("cl_to_date", 2, _to_date, deterministic=True)
    con.create_function("cl_date_add", 2, _date_add, deterministic=True)
    con.create_function("cl_date_diff", 2, _date_diff, deterministic=True)
    con.create_function("cl_fmt_date", 1, _fmt_date, deterministic=True)
    con.create_function("cl_fmt_num", 1, lambda v: None if v is None else _fmt_number(v))
    # Oracle's LIKE is case sensitive; SQLite's is not unless told.
    con.execute("pragma case_sensitive_like = on")
