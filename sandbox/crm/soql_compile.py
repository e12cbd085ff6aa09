"""A SOQL syntax tree compiled to parameterised SQLite SQL over crm.sqlite."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sandbox.crm.errors import SalesforceError, SoqlError
from sandbox.crm.soql_catalog import CATALOGUE, FieldInfo, ObjectInfo, lookup_object, normalize_id
from sandbox.crm.soql_parse import (
    _ESCAPES,
    BoolOp,
    Compare,
    InList,
    Literal,
    Not,
    Path,
    SelectStatement,
    parse,
)

# --------------------------------------------------------------------------------------
# Compiler
# --------------------------------------------------------------------------------------

_TYPE_WORD = {
    "id": "id",
    "reference": "id",
    "string": "string",
    "boolean": "boolean",
    "int": "integer",
    "double": "double",
    "currency": "currency",
    "date": "date",
    "datetime": "dateTime",
}
_TEXT_TYPES = ("string",)
_ID_TYPES = ("id", "reference")


def _month_start(d: date, shift: int = 0) -> date:
    y, m = divmod(d.month - 1 + shift, 12)
    return date(d.year + y, m + 1, 1)


def date_literal_range(name: str, n: int, today: date) -> tuple[date, date]:
    """The `[start, end)` dates a relative date literal covers (the org's time zone is UTC).

    `LAST_N_DAYS:n` includes today (so `LAST_N_DAYS:1` is yesterday and today) and
    `NEXT_N_DAYS:n` starts tomorrow, as Salesforce defines them.
    """
    day = timedelta(days=1)
    ranges = {
        "YESTERDAY": (today - day, today),
        "TODAY": (today, today + day),
        "TOMORROW": (today + day, today + 2 * day),
        "LAST_N_DAYS": (today - n * day, today + day),
        "LAST_90_DAYS": (today - 90 * day, today + day),
        "NEXT_N_DAYS": (today + day, today + (n + 1) * day),
        "NEXT_90_DAYS": (today + day, today + 91 * day),
        "N_DAYS_AGO": (today - n * day, today - (n - 1) * day),
        "LAST_MONTH": (_month_start(today, -1), _month_start(today)),
        "THIS_MONTH": (_month_start(today), _month_start(today, 1)),
        "NEXT_MONTH": (_month_start(today, 1), _month_start(today, 2)),
        "LAST_N_MONTHS": (_month_start(today, -n), _month_start(today)),
        "NEXT_N_MONTHS": (_month_start(today, 1), _month_start(today, n + 1)),
        "LAST_YEAR": (date(today.year - 1, 1, 1), date(today.year, 1, 1)),
        "THIS_YEAR": (date(today.year, 1, 1), date(today.year + 1, 1, 1)),
        "NEXT_YEAR": (date(today.year + 1, 1, 1), date(today.year + 2, 1, 1)),
    }
    return ranges[name]


def format_datetime(value: datetime) -> str:
    """A datetime in the stored (and rendered) Salesforce form `2025-09-15T16:20:00.000+0000`."""
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}+0000"


@dataclass(frozen=True)
class ResolvedField:
    """A selected or filtered field after resolution: which join alias and column."""

    rel_path: tuple[str, ...]  # canonical relationship names from the root object
    info: FieldInfo
    alias: str  # SQL table alias holding the column

    @property
    def column(self) -> str:
        return f'{self.alias}."{self.info.name}"'


@dataclass
class RenderNode:
    """How to render one record level: fields (column index) and nested parents, in order."""

    object_name: str
    id_column: int  # index of this level's Id in the SQL row
    items: list[tuple[str, str, Any]] = field(default_factory=list)
    # items: ("field", name, (column index, FieldInfo)) or ("rel", name, RenderNode)


@dataclass
class CompiledQuery:
    """A SOQL query compiled for SQLite.

    `ids_sql` returns the `Id`s of matching root rows in result order (LIMIT/OFFSET
    applied); `page_sql` fetches the selected columns for a JSON array of Ids. The result is
    snapshotted as Ids (not rowids: an upsert by `insert or replace` changes a row's rowid)
    so later pages stay stable while the generator writes.
    """

    object_name: str
    count_only: bool
    ids_sql: str
    params: list[Any]
    page_sql: str
    render: RenderNode


class _Compiler:
    def __init__(
        self, stmt: SelectStatement, query: str, include_deleted: bool, now: datetime | None
    ) -> None:
        self.now = now
        self.stmt = stmt
        self.query = query
        self.include_deleted = include_deleted
        root = lookup_object(stmt.object_name)
        if root is None:
            raise SoqlError(
                "INVALID_TYPE",
                f"sObject type '{stmt.object_name}' is not supported. If you are attempting to "
                "use a custom object, be sure to append the '__c' after the entity name. Please "
                "reference your WSDL or the describe call for the appropriate names.",
                query=query,
                position=stmt.object_pos,
            )
        self.root = root
        self.joins: dict[tuple[str, ...], tuple[str, ObjectInfo]] = {(): ("t", root)}
        self.join_sql: list[str] = []
        self.params: list[Any] = []

    def error(self, code: str, detail: str, pos: int) -> SoqlError:
        return SoqlError(code, detail, query=self.query, position=pos)

    def resolve(self, path: Path) -> ResolvedField:
        parts = list(path.parts)
        positions = list(path.part_pos)
        names = {self.root.name.lower()}
        if self.stmt.alias:
            names.add(self.stmt.alias.lower())
        if (
            len(parts) > 1
            and parts[0].lower() in names
            and parts[0].lower() not in self.root.relationships
        ):
            parts, positions = parts[1:], positions[1:]
        obj = self.root
        rel_path: tuple[str, ...] = ()
        for part, pos in zip(parts[:-1], positions[:-1], strict=True):
            ref = obj.relationships.get(part.lower())
            if ref is None:
                raise self.error(
                    "INVALID_FIELD",
                    f"Didn't understand relationship '{part}' in field path. If you are "
                    "attempting to use a custom relationship, be sure to append the '__r' after "
                    "the custom relationship name. Please reference your WSDL or the describe "
                    "call for the appropriate names.",
                    pos,
                )
            rel_path = (*rel_path, ref.relationship_name or "")
            obj = self.join(rel_path, obj, ref)
        info = obj.fields.get(parts[-1].lower())
        if info is None:
            raise self.error(
                "INVALID_FIELD",
                f"No such column '{parts[-1]}' on entity '{obj.name}'. If you are attempting to "
                "use a custom field, be sure to append the '__c' after the custom field name. "
                "Please reference your WSDL or the describe call for the appropriate names.",
                positions[-1],
            )
        return ResolvedField(rel_path, info, self.joins[rel_path][0])

    def join(self, rel_path: tuple[str, ...], parent: ObjectInfo, ref: FieldInfo) -> ObjectInfo:
        if rel_path in self.joins:
            return self.joins[rel_path][1]
        target = CATALOGUE[(ref.reference_to or "").lower()]
        alias = f"p{len(self.joins)}"
        parent_alias = self.joins[rel_path[:-1]][0]
        self.joins[rel_path] = (alias, target)
        self.join_sql.append(
            f'left join "{target.name}" as {alias} on {alias}."Id" = {parent_alias}."{ref.name}"'
        )
        return target

    # ---- WHERE -------------------------------------------------------------------------

    def condition(self, node: Any) -> str:
        if isinstance(node, BoolOp):
            return "(" + f" {node.op.lower()} ".join(self.condition(n) for n in node.operands) + ")"
        if isinstance(node, Not):
            # SOQL is two-valued: a comparison with null is false, so NOT of it is true.
            return f"(not ifnull({self.condition(node.operand)}, 0))"
        if isinstance(node, InList):
            return self.in_list(node)
        return self.compare(node)

    def type_error(self, fld: ResolvedField, lit: Literal) -> SoqlError:
        ftype = fld.info.type
        if ftype in _TEXT_TYPES or ftype in _ID_TYPES:
            detail = (
                f"value of filter criterion for field '{fld.info.name}' must be of type "
                f"{_TYPE_WORD[ftype]} and should be enclosed in quotes"
            )
        else:
            detail = (
                f"value of filter criterion for field '{fld.info.name}' must be of type "
                f"{_TYPE_WORD[ftype]} and should not be enclosed in quotes"
            )
        return self.error("INVALID_FIELD", detail, lit.pos)

    def param(self, fld: ResolvedField, lit: Literal, *, like: bool = False) -> Any:
        """The SQL parameter for `lit` compared with `fld`, checked against the field's type."""
        ftype = fld.info.type
        if lit.kind == "string":
            if ftype not in _TEXT_TYPES and ftype not in _ID_TYPES:
                raise self.type_error(fld, lit)
            if like:
                return _like_pattern(lit.value)
            text = _unescape(lit.value)
            if ftype in _ID_TYPES:
                normalized = normalize_id(text)
                if normalized is None:
                    raise self.error(
                        "INVALID_QUERY_FILTER_OPERATOR", f"invalid ID field: {text}", lit.pos
                    )
                return normalized
            return text
        if ftype == "boolean" and lit.kind == "boolean":
            return 1 if lit.value else 0
        if ftype in ("int", "double") and lit.kind == "number":
            value: Decimal = lit.value
            return int(value) if value == value.to_integral_value() else float(value)
        if ftype == "currency" and lit.kind == "number":
            return str(lit.value)
        if ftype == "date" and lit.kind == "date":
            return lit.value.isoformat()
        if ftype == "datetime" and lit.kind == "datetime":
            return format_datetime(lit.value)
        if lit.kind == "dateliteral":
            raise self.error(
                "MALFORMED_QUERY", "date literals are not supported in IN lists", lit.pos
            )
        raise self.type_error(fld, lit)

    def column_expr(self, fld: ResolvedField) -> str:
        if fld.info.type == "currency":
            # Stored as exact decimal text; compare numerically (the text itself stays exact).
            return f"cast({fld.column} as real)"
        return fld.column

    def compare(self, node: Compare) -> str:
        fld = self.resolve(node.path)
        ftype = fld.info.type
        lit = node.value
        if lit.kind == "dateliteral":
            return self.date_range(fld, node.op, lit)
        if lit.kind == "null":
            if node.op == "=":
                return f"({fld.column} is null)"
            if node.op == "!=":
                return f"({fld.column} is not null)"
            raise self.error(
                "MALFORMED_QUERY", f"invalid operator on null value: '{node.op}'", lit.pos
            )
        if node.op == "LIKE":
            if ftype not in _TEXT_TYPES and ftype not in _ID_TYPES:
                raise self.error(
                    "INVALID_FIELD",
                    f"invalid operator on {_TYPE_WORD[ftype]} field '{fld.info.name}': LIKE",
                    node.path.pos,
                )
            self.params.append(self.param(fld, lit, like=True))
            return f"({fld.column} like ? escape '\\')"
        if ftype == "boolean" and node.op not in ("=", "!="):
            raise self.error(
                "INVALID_FIELD",
                f"invalid operator on boolean field '{fld.info.name}': {node.op}",
                node.path.pos,
            )
        value = self.param(fld, lit)
        self.params.append(value)
        rhs = "cast(? as real)" if ftype == "currency" else "?"
        collate = " collate nocase" if ftype in _TEXT_TYPES else ""
        expr = f"{self.column_expr(fld)}{collate} {node.op} {rhs}"
        if node.op == "!=":
            return f"({fld.column} is null or {expr})"
        return f"({expr})"

    def date_range(self, fld: ResolvedField, op: str, lit: Literal) -> str:
        ftype = fld.info.type
        if ftype not in ("date", "datetime") or op == "LIKE":
            raise self.type_error(fld, lit)
        if self.now is None:
            raise SalesforceError(
                "SERVER_UNAVAILABLE", "The sandbox clock (manifest.json) is not available", 503
            )
        name, n = lit.value
        start, end = date_literal_range(name, n, self.now.astimezone(UTC).date())
        if ftype == "date":
            lo, hi = start.isoformat(), end.isoformat()
        else:
            lo = format_datetime(datetime.combine(start, time(), UTC))
            hi = format_datetime(datetime.combine(end, time(), UTC))
        col = fld.column
        if op == "=":
            self.params += [lo, hi]
            return f"({col} >= ? and {col} < ?)"
        if op == "!=":
            self.params += [lo, hi]
            return f"({col} is null or not ({col} >= ? and {col} < ?))"
        bound, sql_op = {"<": (lo, "<"), "<=": (hi, "<"), ">": (hi, ">="), ">=": (lo, ">=")}[op]
        self.params.append(bound)
        return f"({col} {sql_op} ?)"

    def in_list(self, node: InList) -> str:
        fld = self.resolve(node.path)
        ftype = fld.info.type
        has_null = any(v.kind == "null" for v in node.values)
        values = [self.param(fld, v) for v in node.values if v.kind != "null"]
        collate = " collate nocase" if ftype in _TEXT_TYPES else ""
        rhs = "cast(? as real)" if ftype == "currency" else "?"
        parts = []
        if values:
            self.params.extend(values)
            placeholders = ", ".join([rhs] * len(values))
            parts.append(f"{self.column_expr(fld)}{collate} in ({placeholders})")
        if has_null:
            parts.append(f"{fld.column} is null")
        positive = "(" + " or ".join(parts) + ")"
        if node.negated:
            return f"(not ifnull({positive}, 0))"
        return positive

    # ---- whole statement ---------------------------------------------------------------

    def compile(self) -> CompiledQuery:
        stmt = self.stmt
        selected: list[tuple[Path, ResolvedField]] = []
        seen: set[tuple[tuple[str, ...], str]] = set()
        for path in stmt.fields:
            fld = self.resolve(path)
            key = (tuple(p.lower() for p in fld.rel_path), fld.info.name)
            if key in seen:
                raise self.error(
                    "MALFORMED_QUERY", f"duplicate field selected: {path.text}", path.pos
                )
            seen.add(key)
            selected.append((path, fld))

        where_sql = self.condition(stmt.where) if stmt.where is not None else None
        where_params = list(self.params)

        order_terms = []
        for item in stmt.order_by:
            fld = self.resolve(item.path)
            expr = self.column_expr(fld)
            if fld.info.type in _TEXT_TYPES:
                expr += " collate nocase"
            direction = "desc" if item.descending else "asc"
            nulls = "last" if item.nulls_last else "first"
            order_terms.append(f"{expr} {direction} nulls {nulls}")
        order_terms.append('t."Id" asc')  # a stable total order keeps paging deterministic

        conditions = []
        if not self.include_deleted:
            conditions.append('ifnull(t."IsDeleted", 0) = 0')
        if where_sql:
            conditions.append(where_sql)
        joins = " ".join(self.join_sql)
        from_sql = f'from "{self.root.name}" as t {joins}'
        where_clause = f" where {' and '.join(conditions)}" if conditions else ""
        ids_sql = f'select t."Id" {from_sql}{where_clause} order by {", ".join(order_terms)}'
        if stmt.limit is not None or stmt.offset is not None:
            ids_sql += " limit ? offset ?"
            where_params += [
                stmt.limit if stmt.limit is not None else -1,
                stmt.offset or 0,
            ]

        columns: list[str] = ['t."Id"']
        node_by_path: dict[tuple[str, ...], RenderNode] = {}

        def column_index(expr: str) -> int:
            columns.append(expr)
            return len(columns) - 1

        root = RenderNode(self.root.name, column_index('t."Id"'))
        node_by_path[()] = root
        for path, fld in selected:
            node = root
            for depth in range(1, len(fld.rel_path) + 1):
                sub = fld.rel_path[:depth]
                if sub not in node_by_path:
                    alias, obj = self.joins[sub]
                    child = RenderNode(obj.name, column_index(f'{alias}."Id"'))
                    node_by_path[sub] = child
                    node.items.append(("rel", sub[-1], child))
                node = node_by_path[sub]
            del path
            node.items.append(("field", fld.info.name, (column_index(fld.column), fld.info)))
        page_sql = (
            f"select {', '.join(columns)} {from_sql} "
            'where t."Id" in (select value from json_each(?))'
        )
        return CompiledQuery(self.root.name, stmt.count_only, ids_sql, where_params, page_sql, root)


def compile_query(
    query: str, *, include_deleted: bool = False, now: datetime | None = None
) -> CompiledQuery:
    """Parse and compile a SOQL query for `crm.sqlite`.

    Args:
        query: the SOQL text.
        include_deleted: `queryAll` semantics (rows with `IsDeleted = true` included).
        now: the simulated clock, for relative date literals such as `LAST_N_DAYS:30`.

    Returns:
        The compiled query.

    Raises:
        SoqlError: the query is malformed or names an unknown object or field.
    """
    stmt = parse(query)
    return _Compiler(stmt, query, include_deleted, now).compile()


def _unescape(raw: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(raw):
        ch = raw[i]
        if ch == "\\" and i + 1 < len(raw):
            nxt = raw[i + 1]
            out.append(_ESCAPES.get(nxt, "\\" + nxt))
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _like_pattern(raw: str) -> str:
    """A SOQL LIKE pattern as a SQLite LIKE pattern with `\\` as the escape character."""
    out: list[str] = []
    i = 0
    while i < len(raw):
        ch = raw[i]
        if ch == "\\" and i + 1 < len(raw):
            nxt = raw[i + 1]
            if nxt in "%_":
                out.append("\\" + nxt)
            else:
                lit = _ESCAPES[nxt]
                out.append("\\\\" if lit == "\\" else lit)
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)
