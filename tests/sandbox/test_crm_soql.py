"""The SOQL parser and compiler of the CRM sandbox, run against a real SQLite database."""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from sandbox.crm.errors import SoqlError
from sandbox.crm.soql import (
    BoolOp,
    Compare,
    InList,
    Not,
    compile_query,
    date_literal_range,
    format_datetime,
    normalize_id,
    parse,
    tokenize,
)
from sandbox.ids import sf_id
from sandbox.schema import SandboxPaths, connect, create_all


def test_parse_full_statement() -> None:
    stmt = parse(
        "select Id, account.name FROM Contact c WHERE (Name LIKE 'a%' OR Email != null) "
        "AND NOT AccountId IN ('001000000000001') ORDER BY Name DESC NULLS LAST, Id "
        "limit 10 offset 20"
    )
    assert [p.text for p in stmt.fields] == ["Id", "account.name"]
    assert stmt.object_name == "Contact" and stmt.alias == "c"
    assert isinstance(stmt.where, BoolOp) and stmt.where.op == "AND"
    left, right = stmt.where.operands
    assert isinstance(left, BoolOp) and left.op == "OR"
    assert isinstance(left.operands[0], Compare) and left.operands[0].op == "LIKE"
    assert isinstance(right, Not) and isinstance(right.operand, InList)
    assert [(o.path.text, o.descending, o.nulls_last) for o in stmt.order_by] == [
        ("Name", True, True),
        ("Id", False, False),
    ]
    assert (stmt.limit, stmt.offset) == (10, 20)


def test_count_and_not_in() -> None:
    stmt = parse("SELECT COUNT() FROM Account WHERE Industry NOT IN ('a', null)")
    assert stmt.count_only and stmt.fields == []
    assert isinstance(stmt.where, InList) and stmt.where.negated
    assert [v.kind for v in stmt.where.values] == ["string", "null"]


@pytest.mark.parametrize(
    ("literal", "expected"),
    [
        ("2025-01-15T00:00:00Z", datetime(2025, 1, 15, tzinfo=UTC)),
        ("2025-01-15T00:00:00.000+0000", datetime(2025, 1, 15, tzinfo=UTC)),
        ("2025-01-15T02:00:00+02:00", datetime(2025, 1, 15, tzinfo=UTC)),
        ("2025-01-14T19:00:00.250-05:00", datetime(2025, 1, 15, 0, 0, 0, 250000, tzinfo=UTC)),
    ],
)
def test_datetime_literals_are_instants(literal: str, expected: datetime) -> None:
    (tok, _eof) = tokenize(literal)
    assert tok.kind == "datetime"
    assert tok.value == expected
    assert format_datetime(tok.value) == format_datetime(expected)


def test_format_datetime_is_the_stored_form() -> None:
    value = datetime(2025, 9, 15, 18, 20, tzinfo=timezone(timedelta(hours=2)))
    assert format_datetime(value) == "2025-09-15T16:20:00.000+0000"


def test_string_escapes() -> None:
    (tok, _eof) = tokenize(r"'it\'s a \\ \n line'")
    assert tok.kind == "string"
    c = compile_query(r"SELECT Id FROM Account WHERE Name = 'it\'s a \\ \n line'")
    assert c.params == ["it's a \\ \n line"]
    like = compile_query(r"SELECT Id FROM Account WHERE Name LIKE '50\% off\_%'")
    assert like.params == ["50\\% off\\_%"]


@pytest.mark.parametrize(
    ("soql", "code"),
    [
        ("SELECT * FROM Account", "MALFORMED_QUERY"),
        ("SELECT Id FROM Account WHERE Name IS NULL", "MALFORMED_QUERY"),
        ("SELECT Id FROM Account WHERE Name = 'x' AND (Id = null OR", "MALFORMED_QUERY"),
        ("SELECT Id FROM Account WHERE (Name = 'x'", "MALFORMED_QUERY"),
        ("SELECT Id FROM Account ORDER Name", "MALFORMED_QUERY"),
        ("SELECT Id FROM Account ORDER BY Name NULLS", "MALFORMED_QUERY"),
        ("SELECT Id FROM Account LIMIT 1.5", "MALFORMED_QUERY"),
        ("SELECT Id FROM Account OFFSET 2001", "NUMBER_OUTSIDE_VALID_RANGE"),
        ("SELECT Id,, Name FROM Account", "MALFORMED_QUERY"),
        ("SELECT Id FROM Account WHERE Name = 'x' Name = 'y'", "MALFORMED_QUERY"),
        ("SELECT Id FROM Account WHERE CreatedDate = 2025-13-01T00:00:00Z", "MALFORMED_QUERY"),
        ("SELECT Id FROM Account WHERE CloseDate = 2025-02-30", "MALFORMED_QUERY"),
        ("SELECT Id FROM Account WHERE Name = @x", "MALFORMED_QUERY"),
        ("", "MALFORMED_QUERY"),
        ("SELECT Id FROM Account WHERE Name = '" + "x" * 100_001 + "'", "MALFORMED_QUERY"),
        ("SELECT Id FROM Nope", "INVALID_TYPE"),
        ("SELECT Nope FROM Account", "INVALID_FIELD"),
        ("SELECT Id FROM Account WHERE CreatedDate > '2025-01-01T00:00:00Z'", "INVALID_FIELD"),
        ("SELECT Id FROM Account WHERE CreatedDate > 2025-01-01", "INVALID_FIELD"),
        ("SELECT Id FROM Contact WHERE AccountId = 'short'", "INVALID_QUERY_FILTER_OPERATOR"),
    ],
)
def test_rejected_queries(soql: str, code: str) -> None:
    with pytest.raises(SoqlError) as info:
        compile_query(soql)
    assert info.value.error_code == code
    assert info.value.status == 400


def test_keywords_and_fields_are_case_insensitive() -> None:
    c = compile_query("sElEcT nAmE, ACCOUNT.industry fRoM cOnTaCt wHeRe iSdElEtEd = FALSE")
    assert c.object_name == "Contact"
    assert [item[1] for item in c.render.items] == ["Name", "Account"]
    assert c.render.items[1][2].items[0][1] == "Industry"


def test_user_strings_are_parameters_not_sql() -> None:
    evil = 'x\'); drop table "Account"; --'
    escaped = evil.replace("'", "\\'")
    c = compile_query(f"SELECT Id FROM Account WHERE Name = '{escaped}'")
    assert evil in c.params
    assert "drop table" not in c.ids_sql


def test_normalize_id() -> None:
    full = sf_id("001", 12345)
    assert normalize_id(full) == full
    assert normalize_id(full[:15]) == full
    assert normalize_id(full.lower()) == full
    assert normalize_id(full.upper()) == full
    assert normalize_id("abc") is None
    assert normalize_id(full + "x") is None
    assert normalize_id(full[:15] + "!!!") is None


@pytest.fixture
def db(tmp_path: Path) -> sqlite3.Connection:
    paths = SandboxPaths(tmp_path / "sandbox")
    create_all(paths)
    con = connect(paths.crm)
    rows = [
        (sf_id("001", i), f"Acc {i}", stamp, i % 2)
        for i, stamp in enumerate(
            [
                "2025-01-01T00:00:00.000+0000",
                "2025-01-01T12:00:00.000+0000",
                "2025-01-02T00:00:00.000+0000",
                "2025-01-02T00:00:00.001+0000",
            ]
        )
    ]
    con.executemany(
        'insert into "Account" ("Id", "Name", "SystemModstamp", "IsDeleted") values (?, ?, ?, ?)',
        rows,
    )
    con.commit()
    return con


def run(con: sqlite3.Connection, soql: str, include_deleted: bool = True) -> list[str]:
    c = compile_query(soql, include_deleted=include_deleted)
    ids = [r[0] for r in con.execute(c.ids_sql, c.params)]
    names = dict(con.execute('select "Id", "Name" from "Account"').fetchall())
    return [names[i] for i in ids]


def test_compiled_sql_runs_on_sqlite(db: sqlite3.Connection) -> None:
    assert run(db, "SELECT Id FROM Account WHERE SystemModstamp > 2025-01-01T13:00:00+02:00") == [
        "Acc 1",
        "Acc 2",
        "Acc 3",
    ]
    # milliseconds count: the cursor query used by incremental loads must not skip rows
    assert run(db, "SELECT Id FROM Account WHERE SystemModstamp > 2025-01-02T00:00:00Z") == [
        "Acc 3"
    ]
    assert run(db, "SELECT Id FROM Account", include_deleted=False) == ["Acc 0", "Acc 2"]
    assert run(db, "SELECT Id FROM Account ORDER BY SystemModstamp DESC LIMIT 2 OFFSET 1") == [
        "Acc 2",
        "Acc 1",
    ]


@pytest.mark.parametrize(
    ("literal", "n", "start", "end"),
    [
        ("TODAY", 0, date(2025, 3, 31), date(2025, 4, 1)),
        ("YESTERDAY", 0, date(2025, 3, 30), date(2025, 3, 31)),
        ("LAST_N_DAYS", 1, date(2025, 3, 30), date(2025, 4, 1)),
        ("NEXT_N_DAYS", 2, date(2025, 4, 1), date(2025, 4, 3)),
        ("N_DAYS_AGO", 3, date(2025, 3, 28), date(2025, 3, 29)),
        ("LAST_MONTH", 0, date(2025, 2, 1), date(2025, 3, 1)),
        ("NEXT_MONTH", 0, date(2025, 4, 1), date(2025, 5, 1)),
        ("LAST_N_MONTHS", 3, date(2024, 12, 1), date(2025, 3, 1)),
        ("THIS_YEAR", 0, date(2025, 1, 1), date(2026, 1, 1)),
    ],
)
def test_date_literal_ranges(literal: str, n: int, start: date, end: date) -> None:
    assert date_literal_range(literal, n, date(2025, 3, 31)) == (start, end)


def test_date_literal_compiles_to_instant_bounds() -> None:
    now = datetime(2025, 3, 31, 23, 0, tzinfo=UTC)
    c = compile_query("SELECT Id FROM Account WHERE CreatedDate = TODAY", now=now)
    assert c.params == ["2025-03-31T00:00:00.000+0000", "2025-04-01T00:00:00.000+0000"]
    c = compile_query("SELECT Id FROM Contract WHERE EndDate > LAST_N_DAYS:5", now=now)
    assert c.params == ["2025-04-01"]
