"""The edge conversions: vendor strings to types, flattening, type changes, quarantine rows."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pyarrow as pa
import pytest

from ingestion.edge import (
    Batcher,
    RunStats,
    TableSpec,
    account_date,
    as_bool,
    as_decimal,
    as_minor_units,
    f,
    sf_datetime,
)


def test_vendor_values_parse_into_types() -> None:
    assert sf_datetime("2025-09-15T16:20:00.000+0000") == dt.datetime(
        2025, 9, 15, 16, 20, tzinfo=dt.UTC
    )
    assert sf_datetime("2025-09-15T18:20:00.000+0200") == dt.datetime(
        2025, 9, 15, 16, 20, tzinfo=dt.UTC
    )
    assert account_date("M/D/YYYY")("1/5/2025") == dt.date(2025, 1, 5)
    assert account_date("DD.MM.YYYY")("05.01.2025") == dt.date(2025, 1, 5)
    assert (as_bool("T"), as_bool("F"), as_bool(True)) == (True, False, True)
    assert as_decimal("1234.56") == Decimal("1234.56")
    assert as_decimal(0.1) == Decimal("0.1")  # a JSON float through its shortest repr
    assert as_minor_units(335000) == 335000  # JPY: no minor unit, still an integer


@pytest.mark.parametrize(
    ("parser", "value"),
    [
        (as_minor_units, "12.50"),
        (as_minor_units, 12.5),
        (as_decimal, "12,50"),
        (as_decimal, "0.0000000001"),
        (as_bool, "Y"),
        (account_date("M/D/YYYY"), "2025-01-05"),
    ],
)
def test_bad_values_are_refused(parser: object, value: object) -> None:
    with pytest.raises(ValueError):
        parser(value)  # type: ignore[operator]


def test_batcher_flattens_types_and_quarantines() -> None:
    spec = TableSpec(
        "things", ("id",), {"id": f("text"), "amount": f("bigint")}, frozenset({"skip"})
    )
    stats = RunStats()
    batcher = Batcher("test", spec, stats)
    table, quarantine = batcher.convert(
        [
            {"id": "a", "amount": 5, "meta": {"k": "v", "n": {"x": 1}}, "tags": [1], "skip": 1},
            {"id": "b", "amount": "5x"},
            {"amount": 1},
            {"id": "c", "amount": None, "extra": 1},
            {"id": "d", "extra": "one"},
        ]
    )
    assert table is not None and quarantine is not None
    assert table.column_names == ["id", "amount", "meta__k", "meta__n__x", "tags", "extra"]
    assert table.column("id").to_pylist() == ["a", "c"]
    assert table.schema.field("amount").type == pa.int64()
    assert table.column("tags").to_pylist() == ["[1]", None]
    reasons = dict(
        zip(
            quarantine.column("record_id").to_pylist(),
            quarantine.column("reason").to_pylist(),
            strict=True,
        )
    )
    assert reasons["b"].startswith("field amount: cannot parse '5x' as bigint")
    assert reasons[None] == "missing primary key field id"
    assert reasons["d"] == "field extra changed type from bigint to text: 'one'"
    counters = stats.table("test", "things")
    assert (counters.rows, counters.rejected) == (2, 3)
    # quarantine ids are stable: the same bad record twice is one row after a merge
    _, again = Batcher("test", spec).convert([{"id": "b", "amount": "5x"}])
    assert again is not None
    assert again.column("quarantine_id")[0] == quarantine.column("quarantine_id")[0]


def test_fields_only_later_records_have_are_kept_and_a_first_record_without_key_is_refused() -> (
    None
):
    from ingestion.edge import Batcher, TableSpec, f

    spec = TableSpec("things", ("id",), {"id": f("text")})
    # `new` appears only after the first record: it must land, not vanish with the fast path
    table, quarantine = Batcher("billing", spec).convert(
        [{"id": "a", "n": 1}, {"id": "b", "n": 2, "new": "x"}]
    )
    assert quarantine is None and table is not None
    assert table.to_pylist() == [{"id": "a", "n": 1, "new": None}, {"id": "b", "n": 2, "new": "x"}]
    # the first record lacks the key: it alone is quarantined, the others keep their ids
    table, quarantine = Batcher("billing", spec).convert([{"n": 1}, {"id": "b", "n": 2}])
    assert table is not None and quarantine is not None
    assert table.column("id").to_pylist() == ["b"]
    assert quarantine.column("reason").to_pylist() == ["missing primary key field id"]


@pytest.mark.parametrize("fmt", ["M/D/YYYY", "D/M/YYYY", "DD.MM.YYYY", "YYYY-MM-DD", "DD-MON-YYYY"])
def test_date_and_timestamp_parsers_accept_exactly_what_strptime_accepts(fmt: str) -> None:
    import datetime as dt
    import itertools
    import re

    from ingestion.edge import _DATE_TOKENS, account_date, ns_timestamp

    pattern = re.sub(r"YYYY|MON|MM|M|DD|D", lambda m: _DATE_TOKENS[m.group()], fmt)

    def reference(text: str) -> object:
        try:
            return dt.datetime.strptime(text.strip(), pattern).date()
        except ValueError:
            return ValueError

    parse = account_date(fmt)
    pieces = ["0", "1", "01", "9", "09", "12", "13", "29", "30", "31", "00", "2024", "2025", "99"]
    seps = ["/", ".", "-", " "]
    samples = [
        f"{a}{s}{b}{s}{c}" for a, b, c in itertools.product(pieces, repeat=3) for s in seps
    ] + [" 1/5/2025 ", "1/5/2025x", "1//2025", "", "٣/5/2025", "05-JAN-2025", "5-Jan-2025"]
    for text in samples:
        try:
            got: object = parse(text)
        except ValueError:
            got = ValueError
        assert got == reference(text), text

    def ts_reference(text: str) -> object:
        try:
            return dt.datetime.strptime(text.strip(), "%Y-%m-%d %H:%M:%S").replace(tzinfo=dt.UTC)
        except ValueError:
            return ValueError

    stamps = [
        "2025-01-05 10:20:30", "2025-1-5 10:20:30", "2025-02-30 10:20:30", "2025-01-05 24:00:00",
        "2025-01-05 23:59:60", "2025-01-05T10:20:30", " 2025-01-05 10:20:30 ", "2025-01-05",
        "2025-01-05 10:20:3x", "2025-13-05 10:20:30", "0000-01-05 10:20:30",
    ]  # fmt: skip
    for text in stamps:
        try:
            got = ns_timestamp(text)
        except ValueError:
            got = ValueError
        assert got == ts_reference(text), text


def test_numbers_too_big_for_their_column_are_quarantined_not_fatal() -> None:
    from ingestion.edge import Batcher, TableSpec, f

    spec = TableSpec("things", ("id",), {"id": f("text"), "n": f("bigint"), "d": f("decimal")})
    records = [
        {"id": "a", "n": "5", "d": "1.5", "extra": 1},
        {"id": "b", "n": str(2**63), "d": "1"},  # past int64
        {"id": "c", "n": "7", "d": "1" * 30},  # past decimal(38, 9)
        {"id": "e", "n": "8", "d": "2", "extra": 2**64},  # a new field past int64
    ]
    table, quarantine = Batcher("erp", spec).convert(records)
    assert table is not None and quarantine is not None
    assert table.column("id").to_pylist() == ["a"]
    ids, why = quarantine.column("record_id").to_pylist(), quarantine.column("reason").to_pylist()
    reasons = dict(zip(ids, why, strict=True))
    assert "outside the 64-bit integer range" in reasons["b"]
    assert "more than 29 digits before the decimal point" in reasons["c"]
    assert "outside the 64-bit range" in reasons["e"]
