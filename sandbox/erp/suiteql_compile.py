"""A SuiteQL syntax tree validated against ERP_FIELDS and compiled to parameterised SQLite SQL."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sandbox.erp import oracle_fmt
from sandbox.erp.suiteql_parse import (
    _COMPARE_OPS,
    _NO_ARG_FUNCS,
    Between,
    Bin,
    Case,
    Col,
    Func,
    InList,
    IsNull,
    Like,
    Lit,
    Node,
    Select,
    Star,
    SuiteQLError,
    TableRef,
    Unary,
    parse,
)
from sandbox.schema import ERP_FIELDS, ERP_PRIMARY_KEY

# --------------------------------------------------------------------------------------
# Compiler
# --------------------------------------------------------------------------------------

_DATE_TYPES = ("date", "datetime")
_NUMERIC_TYPES = ("int", "float", "number", "currency")


@dataclass
class Typed:
    """A compiled expression: SQLite text, SuiteQL type, and the constant value if literal."""

    sql: str
    type: str  # a schema field type, or number / null
    const: Any = None
    is_const: bool = False
    has_agg: bool = False
    cols: tuple[str, ...] = ()  # column references outside aggregates (sql text)


@dataclass
class OutputColumn:
    """One column of the result: the key NetSuite gives it and how to render its values."""

    key: str
    type: str


@dataclass
class CompiledQuery:
    """A SuiteQL query compiled to SQLite.

    A plain (not grouped, not DISTINCT) query also knows its tables (`row_tables`, alias and
    name in FROM order), its select list (`list_sql`) and its FROM/WHERE (`body_sql`), so a
    reader can first list the rowids of the result in order (`keys_sql`) and then fetch any
    page of it by those rowids (`rows_by_keys_sql`) without sorting the result again.
    """

    select_sql: str  # without ORDER BY
    order_sql: str  # " ORDER BY ..." (always present: paging is stable)
    params: dict[str, Any]
    columns: list[OutputColumn]
    list_sql: str = ""  # the select list ("<expr> AS c0, ...")
    body_sql: str = ""  # " FROM ... [WHERE ...]"
    row_tables: list[tuple[str, str]] = field(default_factory=list)  # (alias, table); [] = grouped

    def count_sql(self) -> str:
        """SQL counting every row of the result."""
        return f"SELECT count(*) FROM ({self.select_sql})"

    def page_sql(self) -> str:
        """SQL of one page; bind `_limit` and `_offset` next to `params`."""
        return f"{self.select_sql}{self.order_sql} LIMIT :_limit OFFSET :_offset"

    @property
    def keyed(self) -> bool:
        """Whether every result row is one combination of table rows (pages fetchable by key)."""
        return bool(self.row_tables)

    def keys_sql(self) -> str:
        """SQL listing, in result order, the rowid of each table's row behind every result row;
        bind `_limit` next to `params`."""
        cols = ", ".join(f'"{alias}".rowid' for alias, _ in self.row_tables)
        return f"SELECT {cols}{self.body_sql}{self.order_sql} LIMIT :_limit"

    def rows_by_keys_sql(self) -> str:
        """SQL of the result rows whose rowids are in `:_keys`, a JSON array of arrays (one
        rowid per table, NULL for an unmatched LEFT JOIN), in the array's order. Only the
        select list's own parameters are needed besides `_keys`."""
        joins, gone = [], []
        for n, (alias, table) in enumerate(self.row_tables):
            key = f"json_extract(k.value, '$[{n}]')"
            joins.append(f'LEFT JOIN "{table}" AS "{alias}" ON "{alias}".rowid = {key}')
            # a row deleted since the snapshot leaves the result rather than show as NULLs
            gone.append(f'({key} IS NULL OR "{alias}".rowid IS NOT NULL)')
        return (
            f"SELECT {self.list_sql} FROM json_each(:_keys) AS k {' '.join(joins)} "
            f"WHERE {' AND '.join(gone)} ORDER BY k.key"
        )


@dataclass
class _Scope:
    tables: dict[str, str] = field(default_factory=dict)  # alias -> table
    order: list[str] = field(default_factory=list)  # aliases in FROM order


_AGGREGATES = {"count", "sum", "min", "max", "avg"}


class _Compiler:
    def __init__(self, clock: datetime, denied: frozenset[str] = frozenset()) -> None:
        self.clock = clock
        self.denied = denied
        self.params: dict[str, Any] = {}
        self.scope = _Scope()

    def param(self, value: Any) -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return f":{name}"

    # -- literals -------------------------------------------------------------------
    def dt_const(self, value: datetime, typ: str | None = None) -> Typed:
        """A date constant: a date when at midnight (so date columns compare as dates)."""
        if typ is None:
            typ = "date" if value.time() == datetime.min.time() else "datetime"
        text = value.strftime("%Y-%m-%d") if typ == "date" else value.strftime("%Y-%m-%d %H:%M:%S")
        return Typed(self.param(text), typ, value, True)

    def lit(self, node: Lit) -> Typed:
        if node.kind == "null":
            return Typed("NULL", "null", None, True)
        if node.kind == "string":
            return Typed(self.param(node.value), "string", node.value, True)
        value = node.value
        sql_value = value if isinstance(value, int) else float(value)
        return Typed(self.param(sql_value), "number", value, True)

    # -- columns --------------------------------------------------------------------
    def column(self, node: Col) -> Typed:
        if node.qualifier is not None:
            table = self.scope.tables.get(node.qualifier)
            if table is None:
                raise SuiteQLError(f"Unknown identifier '{node.qualifier}.{node.name}'.")
            candidates = [(node.qualifier, table)]
        else:
            candidates = [
                (alias, self.scope.tables[alias])
                for alias in self.scope.order
                if any(f == node.name for f, _ in ERP_FIELDS[self.scope.tables[alias]])
            ]
            if not candidates:
                tables = ", ".join(f"'{self.scope.tables[a]}'" for a in self.scope.order)
                raise SuiteQLError(f"Field '{node.name}' was not found in {tables}.")
            if len(candidates) > 1:
                raise SuiteQLError(f"Column '{node.name}' is ambiguous: qualify it with a table.")
        alias, table = candidates[0]
        types = dict(ERP_FIELDS[table])
        if node.name not in types:
            raise SuiteQLError(f"Field '{node.name}' for record '{table}' was not found.")
        sql = f'"{alias}"."{node.name}"'
        return Typed(sql, types[node.name], cols=(sql,))

    # -- coercion helpers -----------------------------------------------------------
    def as_date(self, t: Typed, other_type: str) -> Typed:
        """Make a string literal compared to a date column a date constant."""
        if t.type == "string" and t.is_const:
            try:
                return self.dt_const(oracle_fmt.parse_loose(t.const))
            except oracle_fmt.FormatError as exc:
                raise SuiteQLError(str(exc)) from None
        return t

    def unify_dates(self, a: Typed, b: Typed) -> tuple[Typed, Typed]:
        if a.type in _DATE_TYPES and b.type not in _DATE_TYPES:
            b = self.as_date(b, a.type)
        if b.type in _DATE_TYPES and a.type not in _DATE_TYPES:
            a = self.as_date(a, b.type)
        if {a.type, b.type} == {"date", "datetime"}:
            a, b = self.promote(a), self.promote(b)
        return a, b

    def promote(self, t: Typed) -> Typed:
        """A date as a datetime at midnight, so 'YYYY-MM-DD' text sorts with datetimes."""
        if t.type != "date":
            return t
        if t.is_const:
            return self.dt_const(t.const, "datetime")
        return Typed(f"({t.sql} || ' 00:00:00')", "datetime", has_agg=t.has_agg, cols=t.cols)

    def compare(self, op: str, a: Typed, b: Typed) -> Typed:
        a, b = self.unify_dates(a, b)
        merged = dict(has_agg=a.has_agg or b.has_agg, cols=a.cols + b.cols)
        if "currency" in (a.type, b.type) and a.type not in _DATE_TYPES:
            return Typed(f"(cl_dcmp({a.sql}, {b.sql}) {op} 0)", "bool_expr", **merged)
        return Typed(f"({a.sql} {op} {b.sql})", "bool_expr", **merged)

    # -- expressions ----------------------------------------------------------------
    def expr(self, node: Node) -> Typed:
        if isinstance(node, Lit):
            return self.lit(node)
        if isinstance(node, Col):
            return self.column(node)
        if isinstance(node, Star):
            raise SuiteQLError("'*' is only allowed in the select list or COUNT(*).")
        if isinstance(node, Func):
            return self.func(node)
        if isinstance(node, Unary):
            inner = self.expr(node.expr)
            if node.op == "not":
                return Typed(f"(NOT {inner.sql})", "bool_expr", **_meta(inner))
            if inner.type == "currency":
                return Typed(f"cl_dmul({inner.sql}, -1)", "currency", **_meta(inner))
            if inner.is_const and inner.type == "number":
                return Typed(self.param(-_num(inner.const)), "number", -inner.const, True)
            return Typed(f"(-{inner.sql})", inner.type, **_meta(inner))
        if isinstance(node, Bin):
            return self.binary(node)
        if isinstance(node, IsNull):
            inner = self.expr(node.expr)
            neg = " NOT" if node.negated else ""
            return Typed(f"({inner.sql} IS{neg} NULL)", "bool_expr", **_meta(inner))
        if isinstance(node, InList):
            left = self.expr(node.expr)
            parts = [self.compare("=", left, self.expr(item)) for item in node.items]
            sql = "(" + " OR ".join(p.sql for p in parts) + ")"
            if node.negated:
                sql = f"(NOT {sql})"
            return Typed(sql, "bool_expr", **_meta(left, *parts))
        if isinstance(node, Between):
            e = self.expr(node.expr)
            low = self.compare(">=", e, self.expr(node.low))
            high = self.compare("<=", e, self.expr(node.high))
            sql = f"({low.sql} AND {high.sql})"
            return Typed(f"(NOT {sql})" if node.negated else sql, "bool_expr", **_meta(low, high))
        if isinstance(node, Like):
            e = self.expr(node.expr)
            if e.type in _DATE_TYPES:
                e = Typed(f"cl_fmt_date({e.sql})", "string", **_meta(e))
            pattern = self.expr(node.pattern)
            sql = f"({e.sql} {'NOT ' if node.negated else ''}LIKE {pattern.sql}"
            extra = [e, pattern]
            if node.escape is not None:
                esc = self.expr(node.escape)
                extra.append(esc)
                sql += f" ESCAPE {esc.sql}"
            return Typed(sql + ")", "bool_expr", **_meta(*extra))
        if isinstance(node, Case):
            return self.case(node)
        raise SuiteQLError("Unsupported expression.")

    def binary(self, node: Bin) -> Typed:
        if node.op in ("and", "or"):
            a, b = self.expr(node.left), self.expr(node.right)
            return Typed(f"({a.sql} {node.op.upper()} {b.sql})", "bool_expr", **_meta(a, b))
        a, b = self.expr(node.left), self.expr(node.right)
        if node.op in _COMPARE_OPS:
            return self.compare(node.op, a, b)
        meta = _meta(a, b)
        if node.op == "||":
            sa, sb = self.as_text(a), self.as_text(b)
            sql = f"nullif(coalesce({sa}, '') || coalesce({sb}, ''), '')"
            return Typed(sql, "string", **meta)
        # date arithmetic: date +/- days, date - date = days
        if a.type in _DATE_TYPES or b.type in _DATE_TYPES:
            if node.op == "-" and a.type in _DATE_TYPES and b.type in _DATE_TYPES:
                return Typed(f"cl_date_diff({a.sql}, {b.sql})", "float", **meta)
            if a.type in _DATE_TYPES and b.type in _NUMERIC_TYPES and node.op in "+-":
                sign = "" if node.op == "+" else "-"
                return Typed(f"cl_date_add({a.sql}, {sign}({b.sql}))", "datetime", **meta)
            if b.type in _DATE_TYPES and a.type in _NUMERIC_TYPES and node.op == "+":
                return Typed(f"cl_date_add({b.sql}, {a.sql})", "datetime", **meta)
            raise SuiteQLError(f"Invalid date arithmetic with operator {node.op}.")
        for t in (a, b):
            if t.type not in (*_NUMERIC_TYPES, "null") and not (
                t.type == "string" and t.is_const and _is_number(t.const)
            ):
                raise SuiteQLError(f"Operator {node.op} needs numbers.")
        if "currency" in (a.type, b.type) or (node.op == "/" and "float" not in (a.type, b.type)):
            fn = {"+": "cl_dadd", "-": "cl_dsub", "*": "cl_dmul", "/": "cl_ddiv"}[node.op]
            return Typed(f"{fn}({a.sql}, {b.sql})", "currency", **meta)
        typ = "int" if a.type == b.type == "int" else "float"
        if node.op == "/":
            return Typed(f"(({a.sql}) * 1.0 / ({b.sql}))", "float", **meta)
        return Typed(f"({a.sql} {node.op} {b.sql})", typ, **meta)

    def as_text(self, t: Typed) -> str:
        if t.type in _DATE_TYPES:
            return f"cl_fmt_date({t.sql})"
        if t.type == "float":
            return f"cl_fmt_num({t.sql})"
        return t.sql

    def case(self, node: Case) -> Typed:
        parts: list[Typed] = []
        sql = "CASE"
        operand = self.expr(node.operand) if node.operand is not None else None
        result_type = "null"
        for cond, value in node.whens:
            c = self.compare("=", operand, self.expr(cond)) if operand else self.expr(cond)
            v = self.expr(value)
            parts += [c, v]
            result_type = v.type if result_type == "null" else result_type
            sql += f" WHEN {c.sql} THEN {v.sql}"
        if node.default is not None:
            d = self.expr(node.default)
            parts.append(d)
            result_type = d.type if result_type == "null" else result_type
            sql += f" ELSE {d.sql}"
        if result_type == "number":
            result_type = "float"
        return Typed(sql + " END", result_type, **_meta(*parts))

    def func(self, node: Func) -> Typed:
        name = node.name
        if name in _AGGREGATES:
            return self.aggregate(node)
        if name in _NO_ARG_FUNCS:
            if node.args:
                raise SuiteQLError(f"{name.upper()} takes no arguments.")
            return self.dt_const(self.clock, "datetime")
        args = [self.expr(a) for a in node.args]
        meta = _meta(*args)

        def arity(lo: int, hi: int) -> None:
            if not lo <= len(args) <= hi:
                raise SuiteQLError(f"Wrong number of arguments to {name.upper()}.")

        if name in ("nvl", "coalesce"):
            arity(2, 2) if name == "nvl" else arity(2, 99)
            typ = next((a.type for a in args if a.type not in ("null",)), "null")
            if typ in _DATE_TYPES:
                args = [self.as_date(a, typ) for a in args]
            if typ in _DATE_TYPES and len({a.type for a in args if a.type != "null"}) > 1:
                args = [self.promote(a) for a in args]
                typ = "datetime"
            return Typed(f"coalesce({', '.join(a.sql for a in args)})", typ, **meta)
        if name == "to_char":
            arity(1, 2)
            value = args[0]
            fmt = args[1] if len(args) == 2 else None
            if fmt is not None and not (fmt.is_const and isinstance(fmt.const, str)):
                raise SuiteQLError("The TO_CHAR format must be a string literal.")
            if value.type in _DATE_TYPES:
                fmt_text = fmt.const if fmt is not None else "MM/DD/YYYY"
                try:
                    oracle_fmt.to_char(datetime(2000, 1, 1), fmt_text)
                except oracle_fmt.FormatError as exc:
                    raise SuiteQLError(str(exc)) from None
                if fmt is None:
                    return Typed(f"cl_fmt_date({value.sql})", "string", **meta)
                return Typed(f"cl_to_char({value.sql}, {fmt.sql})", "string", **meta)
            return Typed(self.as_text(value), "string", **meta)
        if name in ("to_date", "to_timestamp"):
            arity(1, 2)
            text, fmt = args[0], (args[1] if len(args) == 2 else None)
            typ = "datetime" if name == "to_timestamp" else None
            if fmt is not None and not (fmt.is_const and isinstance(fmt.const, str)):
                raise SuiteQLError(f"The {name.upper()} format must be a string literal.")
            if text.is_const and isinstance(text.const, str):
                try:
                    value = (
                        oracle_fmt.parse(text.const, fmt.const)
                        if fmt is not None
                        else oracle_fmt.parse_loose(text.const)
                    )
                except oracle_fmt.FormatError as exc:
                    raise SuiteQLError(str(exc)) from None
                return self.dt_const(value, typ)
            if text.type in _DATE_TYPES:
                return text if typ is None else self.promote(text)
            fmt_sql = fmt.sql if fmt is not None else "NULL"
            return Typed(f"cl_to_date({text.sql}, {fmt_sql})", "datetime", **meta)
        if name == "to_number":
            arity(1, 1)
            return Typed(f"cl_dnum({args[0].sql})", "currency", **meta)
        if name == "trunc":
            arity(1, 2)
            if args[0].type in _DATE_TYPES:
                return Typed(f"substr({args[0].sql}, 1, 10)", "date", **meta)
            digits = args[1].sql if len(args) == 2 else "0"
            return Typed(f"cl_dtrunc({args[0].sql}, {digits})", "currency", **meta)
        if name == "round":
            arity(1, 2)
            digits = args[1].sql if len(args) == 2 else "0"
            return Typed(f"cl_dround({args[0].sql}, {digits})", "currency", **meta)
        if name == "abs":
            arity(1, 1)
            return Typed(f"cl_dabs({args[0].sql})", "currency", **meta)
        if name in ("upper", "lower", "trim", "ltrim", "rtrim", "length"):
            arity(1, 1)
            typ = "int" if name == "length" else "string"
            return Typed(f"{name}({self.as_text(args[0])})", typ, **meta)
        if name in ("substr", "substring"):
            arity(2, 3)
            rest = ", ".join(a.sql for a in args[1:])
            return Typed(f"substr({self.as_text(args[0])}, {rest})", "string", **meta)
        raise SuiteQLError(f"Unknown function '{name.upper()}'.")

    def aggregate(self, node: Func) -> Typed:
        name = node.name
        if node.star:
            if name != "count":
                raise SuiteQLError(f"{name.upper()}(*) is not valid.")
            return Typed("count(*)", "int", has_agg=True)
        if len(node.args) != 1:
            raise SuiteQLError(f"Wrong number of arguments to {name.upper()}.")
        arg = self.expr(node.args[0])
        if arg.has_agg:
            raise SuiteQLError("Nested aggregate functions are not supported.")
        distinct = "DISTINCT " if node.distinct else ""
        if name == "count":
            return Typed(f"count({distinct}{arg.sql})", "int", has_agg=True)
        if arg.type == "currency" or (arg.type == "number" and name in ("sum", "avg")):
            if distinct:
                raise SuiteQLError(f"{name.upper()}(DISTINCT ...) of amounts is not supported.")
            return Typed(f"cl_d{name}({arg.sql})", "currency", has_agg=True)
        if name in ("sum", "avg") and arg.type not in ("int", "float", "number"):
            raise SuiteQLError(f"{name.upper()} needs a numeric argument.")
        typ = arg.type
        if name == "avg":
            typ = "float"
        return Typed(f"{name}({distinct}{arg.sql})", typ, has_agg=True)

    # -- statement ------------------------------------------------------------------
    def add_table(self, ref: TableRef) -> None:
        if ref.name not in ERP_FIELDS or ref.name in self.denied:
            # NetSuite answers a table the role may not read exactly as one that does not exist.
            raise SuiteQLError(
                "Detailed unprocessed description follows. "
                f"Search error occurred: Record '{ref.name}' was not found."
            )
        if ref.alias in self.scope.tables:
            raise SuiteQLError(f"Duplicate table alias '{ref.alias}'.")
        self.scope.tables[ref.alias] = ref.name
        self.scope.order.append(ref.alias)

    def compile(self, stmt: Select) -> CompiledQuery:
        self.add_table(stmt.table)
        from_sql = f'"{stmt.table.name}" AS "{stmt.table.alias}"'
        for join in stmt.joins:
            self.add_table(join.table)
            on = self.expr(join.on)
            kw = "LEFT JOIN" if join.kind == "left" else "JOIN"
            from_sql += f' {kw} "{join.table.name}" AS "{join.table.alias}" ON {on.sql}'

        columns: list[OutputColumn] = []
        select_parts: list[str] = []
        select_exprs: list[Typed] = []
        aliases: dict[str, Typed] = {}
        n_unnamed = 0
        for node, alias in stmt.items:
            if isinstance(node, Star):
                quals = [node.qualifier] if node.qualifier else self.scope.order
                for q in quals:
                    if q not in self.scope.tables:
                        raise SuiteQLError(f"Unknown identifier '{q}.*'.")
                    for fname, _ in ERP_FIELDS[self.scope.tables[q]]:
                        t = self.column(Col(q, fname))
                        select_exprs.append(t)
                        select_parts.append(f'{t.sql} AS "c{len(select_parts)}"')
                        columns.append(OutputColumn(fname, t.type))
                continue
            t = self.expr(node)
            if alias is None and isinstance(node, Col):
                key = node.name
            elif alias is None:
                n_unnamed += 1
                key = f"expr{n_unnamed}"
            else:
                key = alias
            if alias is not None:
                aliases[alias] = t
            select_exprs.append(t)
            select_parts.append(f'{t.sql} AS "c{len(select_parts)}"')
            typ = "bool" if t.type == "bool_expr" else t.type
            columns.append(OutputColumn(key, typ))

        sql = f"SELECT {'DISTINCT ' if stmt.distinct else ''}{', '.join(select_parts)}"
        list_prefix = sql
        sql += f" FROM {from_sql}"
        if stmt.where is not None:
            where = self.expr(stmt.where)
            if where.has_agg:
                raise SuiteQLError("Aggregate functions are not allowed in WHERE.")
            sql += f" WHERE {where.sql}"
        group = [self.expr(g) for g in stmt.group_by]
        grouped = bool(group) or any(t.has_agg for t in select_exprs)
        if grouped:
            group_sqls = {g.sql for g in group}
            for t in select_exprs:
                if t.sql in group_sqls:
                    continue
                missing = [c for c in t.cols if c not in group_sqls]
                if missing:
                    raise SuiteQLError(f"Not a GROUP BY expression: {missing[0]}.")
        if group:
            sql += " GROUP BY " + ", ".join(g.sql for g in group)
        if stmt.having is not None:
            sql += f" HAVING {self.expr(stmt.having).sql}"

        order_terms: list[str] = []
        for node, desc in stmt.order_by:
            if isinstance(node, Lit) and node.kind == "number" and isinstance(node.value, int):
                if not 1 <= node.value <= len(select_exprs):
                    raise SuiteQLError(f"ORDER BY position {node.value} is out of range.")
                t = select_exprs[node.value - 1]
            elif isinstance(node, Col) and node.qualifier is None and node.name in aliases:
                t = aliases[node.name]
            else:
                t = self.expr(node)
            order_terms.append(f"{t.sql}{' DESC' if desc else ''}")
        # Stable paging needs a total order: finish with the key of every table (or every
        # output column when grouping/DISTINCT make the table keys meaningless).
        if grouped or stmt.distinct:
            order_terms += [f'"c{i}"' for i in range(len(select_parts))]
            if stmt.order_by and (grouped or stmt.distinct):
                # Expressions in ORDER BY of a grouped/distinct query must be selectable.
                pass
        else:
            for alias in self.scope.order:
                for key in ERP_PRIMARY_KEY[self.scope.tables[alias]]:
                    order_terms.append(f'"{alias}"."{key}"')
        keyed = not grouped and not stmt.distinct and stmt.having is None
        return CompiledQuery(
            sql,
            " ORDER BY " + ", ".join(order_terms),
            self.params,
            columns,
            list_sql=", ".join(select_parts),
            body_sql=sql[len(list_prefix) :],
            row_tables=[(a, self.scope.tables[a]) for a in self.scope.order] if keyed else [],
        )


def _meta(*parts: Typed) -> dict[str, Any]:
    cols: tuple[str, ...] = ()
    for p in parts:
        cols += p.cols
    return {"has_agg": any(p.has_agg for p in parts), "cols": cols}


def _num(value: Any) -> Any:
    return value if isinstance(value, int) else float(value)


def _is_number(text: str) -> bool:
    try:
        Decimal(text)
    except (InvalidOperation, ValueError):
        return False
    return True


def compile_query(
    text: str, clock: datetime, denied: frozenset[str] = frozenset()
) -> CompiledQuery:
    """Parse and compile a SuiteQL query against the ERP tables.

    Args:
        text: the SuiteQL text (`q` of the request body).
        clock: the sandbox's simulated now (SYSDATE / CURRENT_DATE).
        denied: tables the role may not read: answered as unknown tables, as NetSuite does.

    Raises:
        SuiteQLError: syntax error, unknown table/column/function, unsupported construct.
    """
    if not text or not text.strip():
        raise SuiteQLError("The query is empty.")
    try:
        return _Compiler(clock, denied).compile(parse(text))
    except RecursionError:
        raise SuiteQLError("The query is nested too deeply.") from None
