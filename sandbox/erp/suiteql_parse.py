"""SuiteQL text to a syntax tree: its error, the tokenizer, the tree's node types and the parser."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sandbox.query_base import TokenCursor


class SuiteQLError(ValueError):
    """A query NetSuite would refuse with 400 `Invalid search query`."""


# --------------------------------------------------------------------------------------
# Tokenizer
# --------------------------------------------------------------------------------------

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+|--[^\n]*|/\*.*?\*/)
  | (?P<num>\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+)
  | (?P<str>'(?:[^']|'')*')
  | (?P<qid>"[^"]+")
  | (?P<id>[A-Za-z_][A-Za-z0-9_$#]*)
  | (?P<op><>|!=|\^=|<=|>=|\|\||[=<>+\-*/(),.])
    """,
    re.VERBOSE | re.DOTALL,
)

_KEYWORDS = {
    "select", "distinct", "unique", "all", "from", "where", "group", "by", "having", "order",
    "asc", "desc", "join", "inner", "left", "right", "full", "outer", "cross", "on", "and", "or",
    "not", "in", "is", "null", "between", "like", "escape", "as", "case", "when", "then", "else",
    "end", "limit", "offset", "fetch", "union", "intersect", "minus", "except", "nulls", "first",
    "last", "with", "exists",
}  # fmt: skip


@dataclass
class Tok:
    """One lexical token."""

    kind: str  # num, str, id, kw, op, eof
    value: str
    pos: int


def tokenize(text: str) -> list[Tok]:
    """Split SuiteQL text into tokens; identifiers and keywords are lower-cased."""
    out: list[Tok] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN_RE.match(text, pos)
        if not m:
            raise SuiteQLError(f"Unexpected character {text[pos]!r} at position {pos}.")
        kind = m.lastgroup or ""
        raw = m.group()
        if kind == "str":
            out.append(Tok("str", raw[1:-1].replace("''", "'"), pos))
        elif kind == "qid":
            out.append(Tok("id", raw[1:-1].lower(), pos))
        elif kind == "id":
            low = raw.lower()
            out.append(Tok("kw" if low in _KEYWORDS else "id", low, pos))
        elif kind in ("num", "op"):
            out.append(Tok(kind, raw, pos))
        pos = m.end()
    out.append(Tok("eof", "", len(text)))
    return out


# --------------------------------------------------------------------------------------
# AST
# --------------------------------------------------------------------------------------


@dataclass
class Node:
    """Base of the expression tree."""


@dataclass
class Lit(Node):
    value: Any  # str, Decimal, int, or None
    kind: str  # string, number, null


@dataclass
class Col(Node):
    qualifier: str | None
    name: str


@dataclass
class Star(Node):
    qualifier: str | None


@dataclass
class Func(Node):
    name: str
    args: list[Node]
    distinct: bool = False
    star: bool = False


@dataclass
class Unary(Node):
    op: str
    expr: Node


@dataclass
class Bin(Node):
    op: str
    left: Node
    right: Node


@dataclass
class InList(Node):
    expr: Node
    items: list[Node]
    negated: bool


@dataclass
class Between(Node):
    expr: Node
    low: Node
    high: Node
    negated: bool


@dataclass
class Like(Node):
    expr: Node
    pattern: Node
    negated: bool
    escape: Node | None


@dataclass
class IsNull(Node):
    expr: Node
    negated: bool


@dataclass
class Case(Node):
    operand: Node | None
    whens: list[tuple[Node, Node]]
    default: Node | None


@dataclass
class TableRef:
    name: str
    alias: str


@dataclass
class Join:
    kind: str  # inner, left
    table: TableRef
    on: Node


@dataclass
class Select:
    distinct: bool
    items: list[tuple[Node, str | None]]
    table: TableRef
    joins: list[Join]
    where: Node | None
    group_by: list[Node]
    having: Node | None
    order_by: list[tuple[Node, bool]]  # (expr, descending)


# --------------------------------------------------------------------------------------
# Parser (recursive descent)
# --------------------------------------------------------------------------------------

_NO_ARG_FUNCS = {"sysdate", "current_date", "current_timestamp", "systimestamp"}
_COMPARE_OPS = {"=", "<>", "!=", "^=", "<", "<=", ">", ">="}


class _Parser(TokenCursor[Tok]):
    def __init__(self, text: str) -> None:
        super().__init__(tokenize(text))

    def text_of(self, tok: Tok) -> str:
        return tok.value

    def expected(self, what: str) -> SuiteQLError:
        tok = self.tok
        found = "end of query" if tok.kind == "eof" else repr(tok.value)
        return SuiteQLError(f"Syntax error: expected {what} but found {found} at {tok.pos}.")

    # -- statement ------------------------------------------------------------------
    def parse(self) -> Select:
        if self.at("kw", "with"):
            raise SuiteQLError("WITH clauses are not supported in SuiteQL.")
        stmt = self.select()
        if self.at("kw") and self.tok.value in ("limit", "offset", "fetch"):
            raise SuiteQLError(
                f"{self.tok.value.upper()} is not supported: page with the limit and offset "
                "URL parameters."
            )
        if self.at("kw") and self.tok.value in ("union", "intersect", "minus", "except"):
            raise SuiteQLError(f"{self.tok.value.upper()} is not supported by the sandbox.")
        self.expect_end()
        return stmt

    def select(self) -> Select:
        self.expect("kw", "select")
        distinct = bool(self.accept("kw", "distinct") or self.accept("kw", "unique"))
        if not distinct:
            self.accept("kw", "all")
        items: list[tuple[Node, str | None]] = []
        while True:
            items.append(self.select_item())
            if not self.accept("op", ","):
                break
        self.expect("kw", "from")
        table = self.table_ref()
        joins: list[Join] = []
        while True:
            if self.accept("op", ","):
                raise SuiteQLError("Comma joins are not supported: use JOIN ... ON.")
            if self.accept("kw", "inner"):
                self.expect("kw", "join")
                kind = "inner"
            elif self.accept("kw", "join"):
                kind = "inner"
            elif self.accept("kw", "left"):
                self.accept("kw", "outer")
                self.expect("kw", "join")
                kind = "left"
            elif self.at("kw") and self.tok.value in ("right", "full", "cross"):
                raise SuiteQLError(f"{self.tok.value.upper()} JOIN is not supported.")
            else:
                break
            ref = self.table_ref()
            self.expect("kw", "on")
            joins.append(Join(kind, ref, self.expr()))
        where = self.expr() if self.accept("kw", "where") else None
        group_by: list[Node] = []
        if self.accept("kw", "group"):
            self.expect("kw", "by")
            group_by = self.expr_list()
        having = self.expr() if self.accept("kw", "having") else None
        order_by: list[tuple[Node, bool]] = []
        if self.accept("kw", "order"):
            self.expect("kw", "by")
            while True:
                e = self.expr()
                desc = False
                if self.accept("kw", "desc"):
                    desc = True
                else:
                    self.accept("kw", "asc")
                if self.accept("kw", "nulls"):
                    raise SuiteQLError("NULLS FIRST/LAST is not supported by the sandbox.")
                order_by.append((e, desc))
                if not self.accept("op", ","):
                    break
        return Select(distinct, items, table, joins, where, group_by, having, order_by)

    def select_item(self) -> tuple[Node, str | None]:
        if self.accept("op", "*"):
            return Star(None), None
        if self.at("id") and self.peek(1).value == "." and self.peek(2).value == "*":
            qual = self.advance().value
            self.advance()
            self.advance()
            return Star(qual), None
        e = self.expr()
        if self.accept("kw", "as"):
            return e, self.expect("id").value
        alias = self.accept("id")
        return e, alias.value if alias else None

    def table_ref(self) -> TableRef:
        name = self.expect("id").value
        self.accept("kw", "as")
        alias = self.accept("id")
        return TableRef(name, alias.value if alias else name)

    def expr_list(self) -> list[Node]:
        out = [self.expr()]
        while self.accept("op", ","):
            out.append(self.expr())
        return out

    # -- expressions ----------------------------------------------------------------
    def expr(self) -> Node:
        left = self.and_expr()
        while self.accept("kw", "or"):
            left = Bin("or", left, self.and_expr())
        return left

    def and_expr(self) -> Node:
        left = self.not_expr()
        while self.accept("kw", "and"):
            left = Bin("and", left, self.not_expr())
        return left

    def not_expr(self) -> Node:
        if self.accept("kw", "not"):
            return Unary("not", self.not_expr())
        return self.predicate()

    def predicate(self) -> Node:
        if self.at("kw", "exists"):
            raise SuiteQLError("Subqueries are not supported by the sandbox.")
        left = self.additive()
        if self.at("op") and self.tok.value in _COMPARE_OPS:
            op = self.expect("op").value
            op = "<>" if op in ("!=", "^=") else op
            return Bin(op, left, self.additive())
        if self.accept("kw", "is"):
            negated = bool(self.accept("kw", "not"))
            self.expect("kw", "null")
            return IsNull(left, negated)
        negated = bool(self.accept("kw", "not"))
        if self.accept("kw", "in"):
            self.expect("op", "(")
            if self.at("kw", "select"):
                raise SuiteQLError("Subqueries are not supported by the sandbox.")
            items = self.expr_list()
            self.expect("op", ")")
            return InList(left, items, negated)
        if self.accept("kw", "between"):
            low = self.additive()
            self.expect("kw", "and")
            return Between(left, low, self.additive(), negated)
        if self.accept("kw", "like"):
            pattern = self.additive()
            escape = self.additive() if self.accept("kw", "escape") else None
            return Like(left, pattern, negated, escape)
        if negated:
            raise self.expected("IN, BETWEEN or LIKE after NOT")
        return left

    def additive(self) -> Node:
        left = self.multiplicative()
        while self.at("op") and self.tok.value in ("+", "-", "||"):
            op = self.expect("op").value
            left = Bin(op, left, self.multiplicative())
        return left

    def multiplicative(self) -> Node:
        left = self.unary()
        while self.at("op") and self.tok.value in ("*", "/"):
            op = self.expect("op").value
            left = Bin(op, left, self.unary())
        return left

    def unary(self) -> Node:
        if self.accept("op", "-"):
            return Unary("-", self.unary())
        if self.accept("op", "+"):
            return self.unary()
        return self.primary()

    def primary(self) -> Node:
        tok = self.tok
        if tok.kind == "num":
            self.advance()
            value = Decimal(tok.value)
            if (
                value == value.to_integral_value()
                and "." not in tok.value
                and "e" not in (tok.value.lower())
            ):
                return Lit(int(tok.value), "number")
            return Lit(value, "number")
        if tok.kind == "str":
            self.advance()
            return Lit(tok.value, "string")
        if self.accept("kw", "null"):
            return Lit(None, "null")
        if self.accept("op", "("):
            if self.at("kw", "select"):
                raise SuiteQLError("Subqueries are not supported by the sandbox.")
            e = self.expr()
            self.expect("op", ")")
            return e
        if self.accept("kw", "case"):
            return self.case()
        if tok.kind == "id":
            self.advance()
            name = tok.value
            if self.at("op", "."):
                self.advance()
                member = self.expect("id").value
                if self.at("op", "("):
                    return self.call(f"{name}.{member}")
                return Col(name, member)
            if self.at("op", "("):
                return self.call(name)
            if name in _NO_ARG_FUNCS:
                return Func(name, [])
            return Col(None, name)
        raise self.expected("an expression")

    def call(self, name: str) -> Node:
        self.expect("op", "(")
        if self.accept("op", "*"):
            self.expect("op", ")")
            return Func(name, [], star=True)
        distinct = bool(self.accept("kw", "distinct"))
        args: list[Node] = [] if self.at("op", ")") else self.expr_list()
        self.expect("op", ")")
        return Func(name, args, distinct=distinct)

    def case(self) -> Node:
        operand = None if self.at("kw", "when") else self.expr()
        whens: list[tuple[Node, Node]] = []
        while self.accept("kw", "when"):
            cond = self.expr()
            self.expect("kw", "then")
            whens.append((cond, self.expr()))
        if not whens:
            raise self.expected("WHEN")
        default = self.expr() if self.accept("kw", "else") else None
        self.expect("kw", "end")
        return Case(operand, whens, default)


def parse(text: str) -> Select:
    """Parse one SuiteQL SELECT statement.

    Raises:
        SuiteQLError: syntax error or unsupported construct.
    """
    return _Parser(text).parse()
