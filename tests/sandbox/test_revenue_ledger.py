"""The sandbox ledger's revenue follows docs/metrics.md on the golden cases (worked by hand)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from sandbox.generator.revenue import RevenueBook, figures

MONTHS = ["2025-01", "2025-02", "2025-03", "2025-04"]


def _t(day: str) -> int:
    return int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp())


def _book(
    amount: int, start: str, end: str, finalized: str, cur: str = "USD", rate: str = "1"
) -> RevenueBook:
    book = RevenueBook()
    book.invoices["in_1"] = (cur, _t(finalized), Decimal(rate))
    book.lines["in_1"] = [("il_1", amount, _t(start), _t(end))]
    return book


def _series(book: RevenueBook, metric: str, cur: str = "USD") -> list[list[int]]:
    got = figures(book, MONTHS)
    return [got.get((m, cur, metric), [0, 0]) for m in MONTHS]


def test_three_months_lose_no_cent() -> None:
    book = _book(10000, "2025-01-01", "2025-04-01", "2025-01-01T01:00:00")
    # 10000 x 31/90 -> 3444; x 59/90 -> 6556 (3112); 10000 - 6556 = 3444
    assert [m for m, _ in _series(book, "recognized_revenue")] == [3444, 3112, 3444, 0]
    assert [m for m, _ in _series(book, "deferred_revenue")] == [6556, 3444, 0, 0]


def test_credit_note_is_caught_up_in_its_month() -> None:
    book = _book(30000, "2025-01-01", "2025-04-01", "2025-01-01T01:00:00")
    book.credits.append(("cn_1", "in_1", 9000, _t("2025-02-10T12:00:00")))
    # line 10333 / 9334 / 10333; credit 3100 (January, caught up in February) + 2800, 3100
    assert [m for m, _ in _series(book, "recognized_revenue")] == [10333, 3434, 7233, 0]
    assert [m for m, _ in _series(book, "deferred_revenue")] == [19667, 7233, 0, 0]


def test_void_in_its_month_and_write_off() -> None:
    void = _book(8000, "2025-03-01", "2025-04-01", "2025-03-03")
    void.voids["in_1"] = _t("2025-03-20")
    assert _series(void, "recognized_revenue") == [[0, 0]] * 4
    written = _book(12000, "2025-01-01", "2025-04-01", "2025-01-01T01:00:00")
    written.writeoffs["in_1"] = _t("2025-02-15")
    # 4133 recognized in January stays; February and March (3734 + 4133) are written off
    assert [m for m, _ in _series(written, "recognized_revenue")] == [4133, 0, 0, 0]
    assert [m for m, _ in _series(written, "deferred_revenue")] == [7867, 0, 0, 0]


def test_usage_is_unbilled_until_invoiced_and_jpy_in_usd() -> None:
    usage = _book(6200, "2025-01-01", "2025-02-01", "2025-02-01T02:00:00")
    assert [m for m, _ in _series(usage, "recognized_revenue")] == [6200, 0, 0, 0]
    assert [m for m, _ in _series(usage, "unbilled_revenue")] == [6200, 0, 0, 0]
    jpy = _book(1000, "2025-01-01", "2025-04-01", "2025-01-01T01:00:00", "JPY", "0.0065")
    # yen 344 / 312 / 344; USD cents: 650 billed, balances 426 and 224 -> 224, 202, 224
    assert _series(jpy, "recognized_revenue", "JPY") == [[344, 224], [312, 202], [344, 224], [0, 0]]
