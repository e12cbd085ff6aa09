"""SuiteQL (NetSuite's Oracle-flavoured SQL subset): parse, validate against ERP_FIELDS, compile
to parameterised SQLite, and render rows the way NetSuite does (every value a string).

The subset: SELECT [DISTINCT] columns / `*` / `t.*` / expressions [AS alias]; FROM table [alias];
[INNER] JOIN / LEFT [OUTER] JOIN ... ON; WHERE with comparisons, AND/OR/NOT, IN, IS [NOT] NULL,
BETWEEN, LIKE [ESCAPE]; GROUP BY; HAVING; ORDER BY [ASC|DESC]; CASE WHEN; functions COUNT, SUM,
MIN, MAX, AVG, NVL, COALESCE, TO_CHAR, TO_DATE, TO_TIMESTAMP, TO_NUMBER, TRUNC, UPPER, LOWER,
TRIM, LENGTH, SUBSTR, ROUND, ABS, SYSDATE, CURRENT_DATE, CURRENT_TIMESTAMP. There is no
LIMIT/OFFSET/FETCH clause: paging is by URL parameters only.

The code lives in one module per job; this module re-exports their public names:

- `suiteql_parse`: the error type, the tokenizer, the syntax tree and the parser;
- `suiteql_compile`: validation against ERP_FIELDS and the compiler to parameterised SQLite;
- `suiteql_functions`: the SQLite functions the compiled SQL calls (decimal maths, dates);
- `suiteql_render`: result rows rendered as NetSuite does.
"""

from sandbox.erp.suiteql_compile import CompiledQuery, OutputColumn, Typed, compile_query
from sandbox.erp.suiteql_functions import register_functions
from sandbox.erp.suiteql_parse import (
    Between,
    Bin,
    Case,
    Col,
    Func,
    InList,
    IsNull,
    Join,
    Like,
    Lit,
    Node,
    Select,
    Star,
    SuiteQLError,
    TableRef,
    Tok,
    Unary,
    parse,
    tokenize,
)
from sandbox.erp.suiteql_render import render_row, render_value

__all__ = [
    "Between",
    "Bin",
    "Case",
    "Col",
    "CompiledQuery",
    "Func",
    "InList",
    "IsNull",
    "Join",
    "Like",
    "Lit",
    "Node",
    "OutputColumn",
    "Select",
    "Star",
    "SuiteQLError",
    "TableRef",
    "Tok",
    "Typed",
    "Unary",
    "compile_query",
    "parse",
    "register_functions",
    "render_row",
    "render_value",
    "tokenize",
]
