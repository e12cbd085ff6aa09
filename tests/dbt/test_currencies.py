"""Currencies: ISO 4217 exponents (seed and macros agree) and the ERP's precision cross-check."""

from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any

import duckdb

from tests.dbt.conftest import Built, copy_warehouse
from transform import run_dbt

DBT_PROJECT = Path(__file__).resolve().parents[2] / "dbt_project"
SEED = DBT_PROJECT / "seeds" / "iso_4217_currencies.csv"
MONEY_MACROS = DBT_PROJECT / "macros" / "money.sql"


def _seed() -> dict[str, int]:
    with SEED.open(newline="") as fh:
        return {r["currency_code"]: int(r["minor_unit"]) for r in csv.DictReader(fh)}


def _macro_exponents() -> dict[str, int]:
    """The `iso_4217_exponents()` table of macros/money.sql, read from its source."""
    text = MONEY_MACROS.read_text()
    body = text.split("macro iso_4217_exponents()", 1)[1].split("endmacro", 1)[0]
    return {code.upper(): int(e) for code, e in re.findall(r"'([a-z]{3})': (\d)", body)}


def test_the_seed_is_iso_4217_and_the_macros_hold_its_exponents() -> None:
    iso = _seed()
    # a sample of the standard's minor units, typed from ISO 4217 itself
    assert (iso["USD"], iso["EUR"], iso["JPY"], iso["KRW"], iso["KWD"], iso["BHD"]) == (
        2,
        2,
        0,
        0,
        3,
        3,
    )
    assert {c for c, e in iso.items() if e == 3} == {
        "BHD",
        "IQD",
        "JOD",
        "KWD",
        "LYD",
        "OMR",
        "TND",
    }
    assert all(re.fullmatch(r"[A-Z]{3}", c) for c in iso) and len(iso) > 150
    # the macros compile the same exponents (every one that is not 2)
    assert _macro_exponents() == {c: e for c, e in iso.items() if e != 2}


def _rows(path: Path, sql: str) -> list[dict[str, Any]]:
    con = duckdb.connect(str(path))
    try:
        cur = con.execute(sql)
        names = [d[0] for d in cur.description or []]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    finally:
        con.close()


def test_an_erp_precision_other_than_iso_4217_is_a_dq_issue(built: Built, tmp_path: Path) -> None:
    """The sandbox ERP agrees with ISO 4217; an ERP that keeps yen to 2 decimals is listed."""
    assert (
        built.rows("select * from ops.dq_issues where issue_type = 'currency_precision_mismatch'")
        == []
    )
    settings = copy_warehouse(built, tmp_path)
    con = duckdb.connect(str(settings.duckdb_path))
    try:
        con.execute("update raw_erp.currency set currencyprecision = 2 where symbol = 'JPY'")
    finally:
        con.close()
    outcome = run_dbt(
        ["run", "--select", "dq_issues"], settings, target="dev", target_path=tmp_path / "t"
    )
    assert outcome.success, outcome.failures or outcome.exception
    issues = _rows(
        settings.duckdb_path,
        "select * from ops.dq_issues where issue_type = 'currency_precision_mismatch'",
    )
    assert [(r["currency_code"], r["source_model"]) for r in issues] == [
        ("JPY", "stg_erp__currencies")
    ]
    assert "currencyprecision 2, ISO 4217 gives 0 decimals" in issues[0]["reason"]
