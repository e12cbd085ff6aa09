"""SuiteQL result rows as NetSuite renders them: every value a string, dates in account format."""

from __future__ import annotations

from typing import Any

from sandbox.erp import oracle_fmt
from sandbox.erp.suiteql_compile import _DATE_TYPES, OutputColumn

# --------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------


def _fmt_number(value: Any) -> str:
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    return str(value)


def render_value(value: Any, typ: str) -> str:
    """Render one non-NULL value as SuiteQL does: a string; dates in the account format."""
    if typ in _DATE_TYPES and isinstance(value, str) and len(value) >= 10 and value[4] == "-":
        return oracle_fmt.account_date(value)
    if typ == "bool_expr" or (typ == "bool" and isinstance(value, int)):
        return "T" if value else "F"
    return _fmt_number(value)


def render_row(row: tuple[Any, ...], columns: list[OutputColumn]) -> dict[str, Any]:
    """One result item: `links` first, then lower-case keys, NULL columns omitted."""
    item: dict[str, Any] = {"links": []}
    for value, col in zip(row, columns, strict=True):
        if value is not None:
            item[col.key.lower()] = render_value(value, col.type)
    return item
