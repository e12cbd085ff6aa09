"""SOQL text to a syntax tree: the tokenizer, the tree's node types and the parser."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from sandbox.crm.errors import SoqlError
from sandbox.query_base import TokenCursor

MAX_QUERY_LENGTH = 100_000
MAX_OFFSET = 2000
MAX_LIMIT = 2_147_483_647


# --------------------------------------------------------------------------------------
# Tokens
# --------------------------------------------------------------------------------------

_DATETIME_RE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,3}))?(Z|[+-]\d{2}:?\d{2})"
)
_DATE_RE = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?![\dT])")
_NUMBER_RE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?![\w.])")
_IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPS = ("<=", ">=", "!=", "<>", "=", "<", ">")
_PUNCT = ",().:"
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}

#: Relative date literals (value: whether it takes `:n`); ranges are computed from the clock.
DATE_LITERALS = {
    "YESTERDAY": False, "TODAY": False, "TOMORROW": False,
    "LAST_MONTH": False, "THIS_MONTH": False, "NEXT_MONTH": False,
    "LAST_YEAR": False, "THIS_YEAR": False, "NEXT_YEAR": False,
    "LAST_90_DAYS": False, "NEXT_90_DAYS": False,
    "LAST_N_DAYS": True, "NEXT_N_DAYS": True, "N_DAYS_AGO": True,
    "LAST_N_MONTHS": True, "NEXT_N_MONTHS": True,
}  # fmt: skip

KEYWORDS = {
    "AND", "AS", "ASC", "BY", "DESC", "EXCLUDES", "FIRST", "FOR", "FROM", "GROUP", "HAVING", "IN",
    "INCLUDES", "LAST", "LIKE", "LIMIT", "NOT", "NULL", "NULLS", "OFFSET", "OR", "ORDER",
    "SELECT", "TRUE", "FALSE", "USING", "WHERE", "WITH",
}  # fmt: skip


@dataclass(frozen=True)
class Token:
    """One lexical token; `pos` is its character offset in the query."""

    kind: str  # ident, string, number, date, datetime, op, punct, eof
    text: str
    pos: int
    value: Any = None

    def is_kw(self, *words: str) -> bool:
        return self.kind == "ident" and self.text.upper() in words


def _unexpected(tok: Token) -> SoqlError:
    shown = "EOF" if tok.kind == "eof" else tok.text
    return SoqlError("MALFORMED_QUERY", f"unexpected token: '{shown}'", position=tok.pos)


def _parse_datetime(m: re.Match[str], pos: int) -> datetime:
    y, mo, d, h, mi, s, ms, tz = m.groups()
    try:
        if tz == "Z":
            offset = UTC
        else:
            sign = -1 if tz[0] == "-" else 1
            digits = tz[1:].replace(":", "")
            delta = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
            offset = timezone(sign * delta)
        micro = int((ms or "0").ljust(3, "0")) * 1000
        return datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), micro, tzinfo=offset)
    except ValueError as exc:
        raise SoqlError(
            "MALFORMED_QUERY",
            f"line 1:{pos} no viable alternative at character '{m.group(0)}'",
            position=pos,
        ) from exc


def tokenize(query: str) -> list[Token]:
    """Split a SOQL query into tokens; raises `SoqlError` (MALFORMED_QUERY) on bad input."""
    tokens: list[Token] = []
    i, n = 0, len(query)
    while i < n:
        ch = query[i]
        if ch.isspace():
            i += 1
            continue
        if ch == "'":
            j = i + 1
            buf: list[str] = []
            while True:
                if j >= n:
                    raise SoqlError("MALFORMED_QUERY", "unterminated string literal", position=i)
                c = query[j]
                if c == "'":
                    break
                if c == "\\":
                    if j + 1 >= n:
                        raise SoqlError(
                            "MALFORMED_QUERY", "unterminated string literal", position=i
                        )
                    esc = query[j + 1]
                    if esc in _ESCAPES:
                        buf.append("\\" + esc)
                    elif esc in "%_":
                        buf.append("\\" + esc)  # meaningful only inside LIKE patterns
                    else:
                        raise SoqlError(
                            "MALFORMED_QUERY",
                            f"Invalid string literal '{query[i : j + 2]}'. Illegal character "
                            f"sequence '\\{esc}' in string literal.",
                            position=i,
                        )
                    j += 2
                    continue
                buf.append(c)
                j += 1
            tokens.append(Token("string", query[i : j + 1], i, "".join(buf)))
            i = j + 1
            continue
        if ch.isdigit() or (ch in "+-." and i + 1 < n and (query[i + 1].isdigit())):
            m = _DATETIME_RE.match(query, i)
            if m:
                tokens.append(Token("datetime", m.group(0), i, _parse_datetime(m, i)))
                i = m.end()
                continue
            m = _DATE_RE.match(query, i)
            if m:
                try:
                    value = date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
                except ValueError as exc:
                    raise SoqlError(
                        "MALFORMED_QUERY", f"invalid date: '{m.group(0)}'", position=i
                    ) from exc
                tokens.append(Token("date", m.group(0), i, value))
                i = m.end()
                continue
            m = _NUMBER_RE.match(query, i)
            if m:
                tokens.append(Token("number", m.group(0), i, Decimal(m.group(0))))
                i = m.end()
                continue
        m = _IDENT_RE.match(query, i)
        if m:
            tokens.append(Token("ident", m.group(0), i))
            i = m.end()
            continue
        op = next((o for o in _OPS if query.startswith(o, i)), None)
        if op:
            tokens.append(Token("op", op, i))
            i += len(op)
            continue
        if ch in _PUNCT:
            tokens.append(Token("punct", ch, i))
            i += 1
            continue
        end = i + 1
        while end < n and not query[end].isspace():
            end += 1
        raise SoqlError("MALFORMED_QUERY", f"unexpected token: '{query[i:end]}'", position=i)
    tokens.append(Token("eof", "", n))
    return tokens


# --------------------------------------------------------------------------------------
# Syntax tree
# --------------------------------------------------------------------------------------


@dataclass
class Path:
    """A dotted field reference as written (`Account.Owner.Name`), with token offsets."""

    parts: list[str]
    pos: int
    part_pos: list[int]

    @property
    def text(self) -> str:
        return ".".join(self.parts)


@dataclass
class Literal:
    """A literal value: kind is string, number, boolean, null, date or datetime."""

    kind: str
    value: Any
    pos: int
    raw: str = ""


@dataclass
class Compare:
    """`path op value` (op is one of = != < > <= >= LIKE)."""

    path: Path
    op: str
    value: Literal


@dataclass
class InList:
    """`path [NOT] IN (values)`."""

    path: Path
    negated: bool
    values: list[Literal]


@dataclass
class Not:
    """`NOT condition`."""

    operand: Any


@dataclass
class BoolOp:
    """`a AND b AND ...` or `a OR b OR ...` (SOQL forbids mixing them without parentheses)."""

    op: str
    operands: list[Any]


@dataclass
class OrderItem:
    """One ORDER BY term."""

    path: Path
    descending: bool = False
    nulls_last: bool = False


@dataclass
class SelectStatement:
    """A parsed SOQL query."""

    fields: list[Path]
    count_only: bool
    object_name: str
    object_pos: int
    alias: str | None
    where: Any = None
    order_by: list[OrderItem] = field(default_factory=list)
    limit: int | None = None
    offset: int | None = None


# --------------------------------------------------------------------------------------
# Parser
# --------------------------------------------------------------------------------------


class _Parser(TokenCursor[Token]):
    def text_of(self, tok: Token) -> str:
        return tok.text

    def expected(self, what: str) -> SoqlError:
        # Salesforce names the token it found, never the one it wanted.
        return _unexpected(self.tok)

    def expect_kw(self, *words: str) -> Token:
        if not self.tok.is_kw(*words):
            raise _unexpected(self.tok)
        return self.advance()

    def parse(self) -> SelectStatement:
        self.expect_kw("SELECT")
        fields: list[Path] = []
        count_only = False
        if self.tok.is_kw("COUNT") and self.peek().text == "(":
            self.advance()
            self.expect("punct", "(")
            if not self.at("punct", ")"):
                raise SoqlError(
                    "MALFORMED_QUERY",
                    "aggregate functions other than COUNT() are not supported by the sandbox",
                    position=self.tok.pos,
                )
            self.expect("punct", ")")
            count_only = True
        else:
            fields.append(self.path())
            while self.at("punct", ","):
                self.advance()
                fields.append(self.path())
        self.expect_kw("FROM")
        obj = self.tok
        if obj.kind != "ident" or obj.text.upper() in KEYWORDS:
            raise _unexpected(obj)
        self.advance()
        alias = None
        if self.tok.is_kw("AS"):
            self.advance()
            if self.tok.kind != "ident" or self.tok.text.upper() in KEYWORDS:
                raise _unexpected(self.tok)
        if self.tok.kind == "ident" and self.tok.text.upper() not in KEYWORDS:
            alias = self.advance().text
        stmt = SelectStatement(fields, count_only, obj.text, obj.pos, alias)
        if self.tok.is_kw("WHERE"):
            self.advance()
            stmt.where = self.condition()
        if self.tok.is_kw("ORDER"):
            self.advance()
            self.expect_kw("BY")
            stmt.order_by.append(self.order_item())
            while self.at("punct", ","):
                self.advance()
                stmt.order_by.append(self.order_item())
        if self.tok.is_kw("LIMIT"):
            self.advance()
            stmt.limit = self.integer("LIMIT")
        if self.tok.is_kw("OFFSET"):
            self.advance()
            stmt.offset = self.integer("OFFSET")
        self.expect_end()
        return stmt

    def integer(self, clause: str) -> int:
        tok = self.tok
        if tok.kind != "number" or not tok.text.isdigit():
            raise _unexpected(tok)
        self.advance()
        value = int(tok.text)
        if value > MAX_LIMIT:
            raise SoqlError("MALFORMED_QUERY", f'For input string: "{tok.text}"', position=tok.pos)
        if clause == "OFFSET" and value > MAX_OFFSET:
            raise SoqlError(
                "NUMBER_OUTSIDE_VALID_RANGE",
                f"Maximum SOQL offset allowed is {MAX_OFFSET}",
                position=tok.pos,
            )
        return value

    def path(self) -> Path:
        tok = self.tok
        if tok.kind != "ident" or tok.text.upper() in KEYWORDS:
            raise _unexpected(tok)
        self.advance()
        parts, positions = [tok.text], [tok.pos]
        while self.at("punct", "."):
            self.advance()
            nxt = self.tok
            if nxt.kind != "ident":
                raise _unexpected(nxt)
            self.advance()
            parts.append(nxt.text)
            positions.append(nxt.pos)
        if self.at("punct", "("):
            raise SoqlError(
                "MALFORMED_QUERY",
                f"function '{tok.text}' is not supported by the sandbox",
                position=tok.pos,
            )
        return Path(parts, tok.pos, positions)

    def order_item(self) -> OrderItem:
        item = OrderItem(self.path())
        if self.tok.is_kw("ASC", "DESC"):
            item.descending = self.advance().text.upper() == "DESC"
        if self.tok.is_kw("NULLS"):
            self.advance()
            item.nulls_last = self.expect_kw("FIRST", "LAST").text.upper() == "LAST"
        return item

    def condition(self) -> Any:
        first = self.unary()
        if not self.tok.is_kw("AND", "OR"):
            return first
        op = self.tok.text.upper()
        operands = [first]
        while self.tok.is_kw("AND", "OR"):
            if self.tok.text.upper() != op:
                raise _unexpected(self.tok)  # mixing AND/OR needs parentheses in SOQL
            self.advance()
            operands.append(self.unary())
        return BoolOp(op, operands)

    def unary(self) -> Any:
        if self.tok.is_kw("NOT"):
            self.advance()
            return Not(self.unary())
        if self.at("punct", "("):
            self.advance()
            inner = self.condition()
            self.expect("punct", ")")
            return inner
        return self.comparison()

    def comparison(self) -> Any:
        path = self.path()
        tok = self.tok
        if tok.kind == "op":
            self.advance()
            op = "!=" if tok.text == "<>" else tok.text
            return Compare(path, op, self.literal())
        if tok.is_kw("LIKE"):
            self.advance()
            return Compare(path, "LIKE", self.literal())
        negated = False
        if tok.is_kw("NOT"):
            self.advance()
            negated = True
            if not self.tok.is_kw("IN"):
                raise _unexpected(self.tok)
        if self.tok.is_kw("IN"):
            self.advance()
            self.expect("punct", "(")
            if self.tok.is_kw("SELECT"):
                raise SoqlError(
                    "MALFORMED_QUERY",
                    "semi-join subqueries are not supported by the sandbox",
                    position=self.tok.pos,
                )
            values = [self.literal()]
            while self.at("punct", ","):
                self.advance()
                values.append(self.literal())
            self.expect("punct", ")")
            return InList(path, negated, values)
        raise _unexpected(self.tok)

    def literal(self) -> Literal:
        tok = self.advance()
        if tok.kind == "string":
            return Literal("string", tok.value, tok.pos, tok.text)
        if tok.kind in ("number", "date", "datetime"):
            return Literal(tok.kind, tok.value, tok.pos, tok.text)
        if tok.is_kw("TRUE", "FALSE"):
            return Literal("boolean", tok.text.upper() == "TRUE", tok.pos, tok.text)
        if tok.is_kw("NULL"):
            return Literal("null", None, tok.pos, tok.text)
        if tok.kind == "ident" and tok.text.upper() in DATE_LITERALS:
            name = tok.text.upper()
            n = 0
            if DATE_LITERALS[name]:
                self.expect("punct", ":")
                num = self.tok
                if num.kind != "number" or not num.text.isdigit():
                    raise _unexpected(num)
                self.advance()
                n = int(num.text)
                if n > 100_000:
                    raise SoqlError(
                        "NUMBER_OUTSIDE_VALID_RANGE",
                        f"{name}:{n} is out of range",
                        position=num.pos,
                    )
            return Literal("dateliteral", (name, n), tok.pos, tok.text)
        raise _unexpected(tok)


def parse(query: str) -> SelectStatement:
    """Parse a SOQL query; raises `SoqlError` with Salesforce's code and message."""
    if len(query) > MAX_QUERY_LENGTH:
        raise SoqlError(
            "MALFORMED_QUERY",
            f"SOQL statements cannot be longer than {MAX_QUERY_LENGTH} characters.",
        )
    if not query.strip():
        raise SoqlError("MALFORMED_QUERY", "A query string has to be specified")
    try:
        return _Parser(tokenize(query)).parse()
    except SoqlError as exc:
        raise exc.with_query(query) from None
