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

The code lives in one module per job; this module re-exports their public names:

- `soql_catalog`: the catalogue of sObjects and fields, and Salesforce id normalisation;
- `soql_parse`: the tokenizer, the syntax tree and the parser;
- `soql_compile`: the compiler to parameterised SQLite SQL.
"""

from sandbox.crm.soql_catalog import CATALOGUE, FieldInfo, ObjectInfo, lookup_object, normalize_id
from sandbox.crm.soql_compile import (
    CompiledQuery,
    RenderNode,
    ResolvedField,
    compile_query,
    date_literal_range,
    format_datetime,
)
from sandbox.crm.soql_parse import (
    DATE_LITERALS,
    KEYWORDS,
    MAX_LIMIT,
    MAX_OFFSET,
    MAX_QUERY_LENGTH,
    BoolOp,
    Compare,
    InList,
    Literal,
    Not,
    OrderItem,
    Path,
    SelectStatement,
    Token,
    parse,
    tokenize,
)

__all__ = [
    "CATALOGUE",
    "DATE_LITERALS",
    "KEYWORDS",
    "MAX_LIMIT",
    "MAX_OFFSET",
    "MAX_QUERY_LENGTH",
    "BoolOp",
    "Compare",
    "CompiledQuery",
    "FieldInfo",
    "InList",
    "Literal",
    "Not",
    "ObjectInfo",
    "OrderItem",
    "Path",
    "RenderNode",
    "ResolvedField",
    "SelectStatement",
    "Token",
    "compile_query",
    "date_literal_range",
    "format_datetime",
    "lookup_object",
    "normalize_id",
    "parse",
    "tokenize",
]
