"""NetSuite's string values parsed by the columnar path (Arrow compute) land exactly what the
row-by-row reference path lands; any value outside the strict forms sends the batch there."""

from __future__ import annotations

import copy
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from ingestion.edge import Batcher, Field, RunStats, TableSpec, account_date, f, ns_timestamp
from ingestion.sources.erp import _spec, _with_timestamps, build_query
from ingestion.sources.erp.helpers import SuiteQLClient
from ingestion.sources.erp.settings import DEFAULT_DATE_FORMAT, TABLES
from sandbox.defaults import SANDBOX_DEFAULT_TOKENS
from tests.ingestion.support import served

ROW_PATH = "row-by-row"


def _assert_same(got: pa.Table | None, want: pa.Table | None) -> None:
    """Same columns in the same order, same Arrow types and nullability, same values."""
    assert (got is None) == (want is None)
    if got is None or want is None:
        return
    assert got.schema == want.schema
    for name in want.column_names:
        assert got.column(name).equals(want.column(name)), name
    assert got.equals(want)


def _quarantined(table: pa.Table | None) -> list[tuple[Any, ...]]:
    """Quarantine rows without their timestamp (the only column that differs between runs)."""
    if table is None:
        return []
    return sorted(
        zip(
            *(table.column(c).to_pylist() for c in ("quarantine_id", "record_id", "reason")),
            strict=True,
        )
    )


def _both(
    spec: TableSpec, records: list[dict[str, Any]], caplog: pytest.LogCaptureFixture
) -> tuple[tuple[pa.Table | None, pa.Table | None], tuple[Any, Any], bool]:
    """(convert's result, the row path's result, whether convert went row by row)."""
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="ingestion.edge"):
        got = Batcher("erp", spec).convert(copy.deepcopy(records))
    rows = any(ROW_PATH in r.getMessage() for r in caplog.records)
    want = Batcher("erp", spec)._slow(copy.deepcopy(records))
    return got, want, rows


# --- every ERP table of the small sandbox ------------------------------------------------------


@pytest.fixture(scope="module")
def erp_pages(small_sandbox_home: Path) -> Iterator[dict[str, list[list[dict[str, Any]]]]]:
    with served(small_sandbox_home) as sandbox:
        client = SuiteQLClient(sandbox.urls["erp"], SANDBOX_DEFAULT_TOKENS["erp"])
        yield {
            table: [_with_timestamps(page) for page in client.query(build_query(table, conf, None))]
            for table, conf in TABLES.items()
        }


@pytest.mark.parametrize("table", list(TABLES))
def test_erp_pages_land_by_the_columnar_path_as_by_the_row_path(
    erp_pages: dict[str, list[list[dict[str, Any]]]], table: str, caplog: pytest.LogCaptureFixture
) -> None:
    pages = [p for p in erp_pages[table] if p]
    if table != "deletedrecord":  # a freshly generated sandbox has deleted nothing yet
        assert pages, f"the small sandbox has {table}"
    spec = _spec(table, TABLES[table], DEFAULT_DATE_FORMAT)
    for page in pages:
        stats = RunStats()
        caplog.clear()
        with caplog.at_level(logging.DEBUG, logger="ingestion.edge"):
            got, quarantine = Batcher("erp", spec, stats).convert(copy.deepcopy(page))
        # the columnar path took it: no row-by-row fallback, nothing to quarantine
        assert not [r for r in caplog.records if ROW_PATH in r.getMessage()]
        assert quarantine is None
        assert stats.table("erp", table).rows == len(page)
        want, want_quarantine = Batcher("erp", spec)._slow(copy.deepcopy(page))
        assert want_quarantine is None
        _assert_same(got, want)


def test_erp_pages_hold_every_kind_the_columnar_path_parses(
    erp_pages: dict[str, list[list[dict[str, Any]]]],
) -> None:
    # the differential test above exercises every vendor form, with values and with nulls
    lines = [r for page in erp_pages["transactionline"] for r in page]
    assert any("custcol_cl_service_start" in r for r in lines)  # account-format dates
    assert any("custcol_cl_service_start" not in r for r in lines)  # ... and their nulls
    assert any("." in r.get("rate", "") for r in lines)  # decimals with places
    assert {r["mainline"] for r in lines} == {"T", "F"}
    assert any(len(r["linelastmodifieddate"]) == 19 for r in lines)


# --- adversarial strings, kind by kind ---------------------------------------------------------

SPEC = TableSpec(
    "things",
    ("id",),
    {
        "id": f("bigint"),
        "n": f("bigint"),
        "amount": f("decimal"),
        "flag": f("bool"),
        "at": Field("timestamp", ns_timestamp),
        "on": Field("date", account_date("M/D/YYYY")),
        "de": Field("date", account_date("DD.MM.YYYY")),
        "mon": Field("date", account_date("DD-MON-YYYY")),
    },
)
GOOD = {
    "n": "-42",
    "amount": "-1234.123456789",
    "flag": "T",
    "at": "2024-02-29 23:59:59",
    "on": "12/31/2024",
    "de": "01.02.2025",
}

# (field, value, whether the columnar path takes it)
CASES = [
    ("n", "007", True),
    ("n", "-0", True),
    ("n", "9223372036854775807", True),
    ("n", "-9223372036854775808", True),
    ("n", "+5", False),
    ("n", " 5", False),
    ("n", "5 ", False),
    ("n", "5\n", False),
    ("n", "1e3", False),
    ("n", "1.0", False),
    ("n", "", False),
    ("n", "-", False),
    ("n", "--5", False),
    ("n", "٣", False),  # Arabic-Indic three: Python's int() reads it, the row path lands 3
    ("amount", "0.5", True),
    ("amount", ".5", True),
    ("amount", "-.5", True),
    ("amount", "-0", True),
    ("amount", "00012.50", True),
    ("amount", "1.123456789", True),
    ("amount", "1" * 29 + ".123456789", True),
    ("amount", "1e5", False),
    ("amount", "1E-2", False),
    ("amount", "+5", False),
    ("amount", " 5", False),
    ("amount", "5.", False),
    ("amount", "1.1234567891", False),
    ("amount", "12,50", False),
    ("amount", "NaN", False),
    ("amount", "Infinity", False),
    ("amount", "", False),
    ("amount", "٣.5", False),
    ("flag", "F", True),
    ("flag", "T ", False),
    ("flag", "true", False),
    ("flag", "t", False),
    ("flag", "Y", False),
    ("flag", "", False),
    ("at", "2025-01-05 10:20:30", True),
    ("at", "0001-01-01 00:00:00", True),
    ("at", "9999-12-31 23:59:59", True),
    ("at", "2025-02-30 10:20:30", False),  # Arrow's strptime would roll it over to March 2
    ("at", "2025-02-29 00:00:00", False),
    ("at", "2025-01-05 23:59:60", False),
    ("at", "2025-01-05 24:00:00", False),
    ("at", "2025-13-05 10:20:30", False),
    ("at", "2025-00-05 10:20:30", False),
    ("at", "0000-01-05 10:20:30", False),
    ("at", " 2025-01-05 10:20:30", False),
    ("at", "2025-01-05T10:20:30", False),
    ("at", "2025-1-5 10:20:30", False),
    ("at", "2025-01-05", False),
    ("at", "", False),
    ("on", "1/5/2025", True),
    ("on", "01/05/2025", True),
    ("on", "2/29/2024", True),
    ("on", "1/1/0001", True),
    ("on", "2/30/2025", False),
    ("on", "2/29/2025", False),
    ("on", "13/1/2025", False),
    ("on", "0/1/2025", False),
    ("on", "1/0/2025", False),
    ("on", "1/1/0000", False),
    ("on", "001/5/2025", False),
    ("on", " 1/5/2025 ", False),
    ("on", "2025-01-05", False),
    ("on", "٣/5/2025", False),
    ("on", "", False),
    ("de", "31.12.2024", True),
    ("de", "1.2.2025", True),
    ("de", "31.04.2025", False),
    ("de", "01/02/2025", False),
    ("de", "01x02x2025", False),  # `.` is literal, not any character
    ("mon", "05-JAN-2025", False),  # month names: strptime's, in the row path
]


@pytest.mark.parametrize(("name", "value", "columnar"), CASES)
def test_adversarial_strings_land_as_the_row_path_lands_them(
    name: str, value: str, columnar: bool, caplog: pytest.LogCaptureFixture
) -> None:
    records: list[dict[str, Any]] = [
        {"id": "1", **GOOD},
        {"id": "2", **GOOD, name: value},
        {"id": "3", **GOOD, name: None},
        {"id": "4", "flag": "F"},
    ]
    (got, got_quarantine), (want, want_quarantine), rows = _both(SPEC, records, caplog)
    assert rows is not columnar
    if columnar:
        assert want_quarantine is None  # the strict forms are a subset of what the row path takes
    _assert_same(got, want)
    assert _quarantined(got_quarantine) == _quarantined(want_quarantine)


def test_an_integer_past_64_bits_is_quarantined_on_both_paths(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The columnar path refuses the batch; the row path quarantines the record with a reason.
    records = [{"id": "1", **GOOD}, {"id": "2", **GOOD, "n": "9223372036854775808"}]
    table, quarantine = Batcher("erp", SPEC)._slow(copy.deepcopy(records))
    assert table is not None and quarantine is not None
    assert quarantine.column("record_id").to_pylist() == ["2"]
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="ingestion.edge"):
        got, got_q = Batcher("erp", SPEC).convert(copy.deepcopy(records))
    assert any("n has a value outside the bigint form" in r.getMessage() for r in caplog.records)
    assert got is not None and got_q is not None
    assert got.equals(table)
    assert got_q.column("reason").to_pylist() == quarantine.column("reason").to_pylist()
    assert "outside the 64-bit integer range" in got_q.column("reason")[0].as_py()


def test_json_values_of_declared_string_fields_keep_their_paths(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # JSON numbers and booleans are not vendor strings: native kinds stay native, a decimal
    # from a JSON number stays the row path's (it goes through the float's shortest repr).
    native = [{"id": 1, "n": 2, "flag": True}, {"id": 3, "n": None, "flag": False}]
    (got, _), (want, _), rows = _both(SPEC, native, caplog)
    assert not rows
    _assert_same(got, want)
    numbers = [{"id": "1", "amount": 0.1}, {"id": "2", "amount": 3}]
    (got, _), (want, _), _rows = _both(SPEC, numbers, caplog)
    _assert_same(got, want)
    assert got is not None
    assert [str(v) for v in got.column("amount").to_pylist()] == ["0.100000000", "3.000000000"]
    # the first value is a number: no columnar attempt is even made (nothing refused)
    assert not _rows


def test_a_batch_whose_first_value_only_the_row_path_parses_skips_the_columnar_attempt(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # a month-name date in the first record: no columnar attempt (no refusal logged), and the
    # row path lands it
    records = [{"id": "1", "mon": "05-JAN-2025"}, {"id": "2", "mon": "06-Jan-2025"}]
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="ingestion.edge"):
        table, quarantine = Batcher("erp", SPEC).convert(copy.deepcopy(records))
    assert not caplog.records
    assert quarantine is None and table is not None
    assert [str(d) for d in table.column("mon").to_pylist()] == ["2025-01-05", "2025-01-06"]


def test_empty_string_keys_are_quarantined_whichever_path_is_tried(
    caplog: pytest.LogCaptureFixture,
) -> None:
    spec = TableSpec("deleted", ("recordtypeid", "recordid"), {"recordid": f("bigint")})
    records: list[dict[str, Any]] = [
        {"recordtypeid": "invoice", "recordid": "1"},
        {"recordtypeid": "", "recordid": "2"},
    ]
    (got, got_quarantine), (want, want_quarantine), rows = _both(spec, records, caplog)
    assert rows
    _assert_same(got, want)
    assert _quarantined(got_quarantine) == _quarantined(want_quarantine)
    assert [r[2] for r in _quarantined(got_quarantine)] == [
        "missing primary key field recordtypeid"
    ]
