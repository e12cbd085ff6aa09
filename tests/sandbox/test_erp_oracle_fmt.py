"""Oracle format models used by SuiteQL's TO_CHAR / TO_DATE and the account date format."""

from __future__ import annotations

from datetime import datetime

import pytest

from sandbox.erp import oracle_fmt

WHEN = datetime(2025, 3, 7, 15, 4, 9)


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [
        ("YYYY-MM-DD HH24:MI:SS", "2025-03-07 15:04:09"),
        ("MM/DD/YYYY", "03/07/2025"),
        ("FMMM/DD/YYYY", "3/7/2025"),
        ("FMMM/FMDD/YYYY", "3/07/2025"),  # FM toggles, as in Oracle
        ("DD-MON-YY", "07-MAR-25"),
        ("Mon DD, YYYY", "Mar 07, 2025"),
        ("fmMonth", "March"),
        ("Month", "March    "),
        ("HH:MI AM", "03:04 PM"),
        ('YYYY"Q"Q', "2025Q1"),
        ("Dy DDD", "Fri 066"),
        ('YYYY-MM-DD"T"HH24:MI:SS', "2025-03-07T15:04:09"),
    ],
)
def test_to_char(fmt: str, expected: str) -> None:
    assert oracle_fmt.to_char(WHEN, fmt) == expected


@pytest.mark.parametrize(
    ("text", "fmt", "expected"),
    [
        ("2025-03-07", "YYYY-MM-DD", datetime(2025, 3, 7)),
        ("3/7/2025", "MM/DD/YYYY", datetime(2025, 3, 7)),
        ("07-MAR-2025 03:04:09 PM", "DD-MON-YYYY HH:MI:SS AM", WHEN),
        ("2025-03-07 15:04:09", "YYYY-MM-DD HH24:MI:SS", WHEN),
        ("25.03.07", "YY.MM.DD", datetime(2025, 3, 7)),
    ],
)
def test_parse(text: str, fmt: str, expected: datetime) -> None:
    assert oracle_fmt.parse(text, fmt) == expected


@pytest.mark.parametrize(
    ("text", "fmt"),
    [("2025-02-30", "YYYY-MM-DD"), ("2025/03", "YYYY-MM-DD"), ("x", "QQ"), ("1", '"open')],
)
def test_parse_rejects(text: str, fmt: str) -> None:
    with pytest.raises(oracle_fmt.FormatError):
        oracle_fmt.parse(text, fmt)


def test_loose_dates_and_account_format() -> None:
    assert oracle_fmt.parse_loose("1/15/2025") == datetime(2025, 1, 15)
    assert oracle_fmt.parse_loose("1/15/2025 3:04 pm") == datetime(2025, 1, 15, 15, 4)
    assert oracle_fmt.parse_loose("2025-01-15 10:00:00") == datetime(2025, 1, 15, 10)
    with pytest.raises(oracle_fmt.FormatError):
        oracle_fmt.parse_loose("13/45/2025")
    assert oracle_fmt.account_date("2025-01-05 23:59:59") == "1/5/2025"
