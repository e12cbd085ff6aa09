"""SOQL subset: tokenizer, parser and compiler to parameterised SQLite SQL over `crm.sqlite`.

Supported: a field list (with parent fields through reference fields, several levels deep),
`COUNT()`, one object in FROM (optionally aliased), WHERE with `= != <> < > <= >= LIKE IN
NOT IN AND OR NOT` and parentheses, `ORDER BY ... [ASC|DESC] [NULLS FIRST|LAST]`, LIMIT and
OFFSET. Errors carry Salesforce's own error codes and messages (see `errors.SoqlError`).

Salesforce semantics kept on purpose, because connectors must not learn habits the real
service breaks: comparisons with a null field are false (so `!=` and `NOT IN` match nulls),
text comparisons and sorting are case-insensitive, nulls sort first unless `NULLS LAST`, AND
and OR cannot be mixed without parentheses, datetime literals are unquoted and compared as
instants.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

from sandbox.crm.errors import SalesforceError, SoqlError
from sandbox.ids import sf_case_safe_suffix
from sandbox.query_base import TokenCursor
from sandbox.schema import CRM_FIELDS

MAX_QUERY_LENGTH = 100_000
MAX_OFFSET = 2000
MAX_LIMIT = 2_147_483_647

# --------------------------------------------------------------------------------------
# Catalogue
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldInfo:
    """One field of an sObject as the catalogue types it."""

    name: str
    type: str  # id, reference, string, boolean, int, double, currency, date, datetime
    reference_to: str | None = None
    relationship_name: str | None = None


@dataclass(frozen=True)
class ObjectInfo:
    """One sObject: its fields by lower-case name and its parent relationships."""

    name: str
    fields: dict[str, FieldInfo]  # lower-case name -> field, in catalogue order
    relationships: dict[str, FieldInfo]  # lower-case relationship name -> reference field


def _relationship_name(field_name: str) -> str:
    if field_name.endswith("__c"):
        return field_name[:-3] + "__r"
    return field_name[:-2] if field_name.endswith("Id") else field_name


def _build_catalogue() -> dict[str, ObjectInfo]:
    catalogue: dict[str, ObjectInfo] = {}
    for obj, fields in CRM_FIELDS.items():
        by_name: dict[str, FieldInfo] = {}
        rels: dict[str, FieldInfo] = {}
        for name, ftype in fields:
            if ftype.startswith("reference:"):
                target = ftype.split(":", 1)[1]
                info = FieldInfo(name, "reference", target, _relationship_name(name))
                if target in CRM_FIELDS:
                    rels[info.relationship_name.lower()] = info  # type: ignore[union-attr]
            else:
                info = FieldInfo(name, ftype)
            by_name[name.lower()] = info
        catalogue[obj.lower()] = ObjectInfo(obj, by_name, rels)
    return catalogue


CATALOGUE: dict[str, ObjectInfo] = _build_catalogue()


def lookup_object(name: str) -> ObjectInfo | None:
    """The catalogued sObject named `name` (case-insensitive), or None."""
    return CATALOGUE.get(name.lower())


# --------------------------------------------------------------------------------------
# Ids
# --------------------------------------------------------------------------------------

_ID_RE = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")
_SUFFIX_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def normalize_id(value: str) -> str | None:
    """The canonical 18-character form of a 15- or 18-character Salesforce id, else None.

    An 18-character id is case-insensitive: its suffix says which of the first 15 characters
    are upper case, so a lower-cased copy still names the same record.
    """
    if not _ID_RE.match(value):
        return None
    if len(value) == 15:
        return value + sf_case_safe_suffix(value)
    chars = list(value[:15])
    for chunk, flag in enumerate(value[15:].upper()):
        bits = _SUFFIX_CHARS.find(flag)
        if bits < 0:
            return None
        for i in range(5):
            pos = chunk * 5 + i
            if chars[pos].isalpha():
                chars[pos] = chars[pos].upper() if bits & (1 << i) else chars[pos].lower()
    id15 = "".join(chars)
    return id15 + sf_case_safe_suffix(id15)


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
