"""The semantic layer: MetricFlow answers kpi_monthly's figures from models/semantic's metrics."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from closeloop.publish import publish_warehouse
from closeloop.semantic import query_metrics
from closeloop.settings import DEFAULT_PUBLISH_NAME
from tests.dbt.conftest import Built


def _month(value: Any) -> dt.date:
    return value.date() if isinstance(value, dt.datetime) else value


def _exact(value: Any) -> Decimal:
    # query_metrics runs MetricFlow's SQL through the adapter: exact decimals, never floats
    assert isinstance(value, Decimal), type(value)
    return value.quantize(Decimal("0.001"))


def test_mf_answers_mrr_by_month_and_currency(built: Built, tmp_path: Path) -> None:
    table = query_metrics(
        ["mrr", "mrr_usd"],
        ["metric_time__month", "kpi_monthly__currency_code"],
        built.settings,
        target_path=built.target_path,
    )
    assert table.columns == ("metric_time__month", "kpi_monthly__currency_code", "mrr", "mrr_usd")
    got = {
        (_month(r["metric_time__month"]), r["kpi_monthly__currency_code"]): (
            _exact(r["mrr"]),
            _exact(r["mrr_usd"]),
        )
        for r in table.records()
    }
    expected = {
        (r["month_start"], r["currency_code"]): (
            r["mrr"].quantize(Decimal("0.001")),
            r["mrr_usd"].quantize(Decimal("0.001")),
        )
        for r in built.rows(
            "select month_start, currency_code, mrr, mrr_usd from kpi.kpi_monthly "
            "where currency_code <> 'ALL'"
        )
    }
    # every month and currency of kpi_monthly, none invented, each to the minor unit
    assert set(got) == set(expected)
    assert len({c for _, c in got}) >= 3 and len({m for m, _ in got}) >= 12
    assert any(v[0] != 0 for v in got.values())
    mismatches = {k: (got[k], expected[k]) for k in expected if got[k] != expected[k]}
    assert not mismatches, dict(list(mismatches.items())[:5])

    # BI runs MetricFlow's SQL (what `mf query --explain` prints) on the published copy, read-only
    dest = tmp_path / DEFAULT_PUBLISH_NAME
    assert publish_warehouse(dataclasses.replace(built.settings, publish_path=dest)) is not None
    con = duckdb.connect(str(dest), read_only=True)
    try:
        on_copy = con.execute(table.sql).fetchall()
    finally:
        con.close()
    assert {(_month(r[0]), r[1]): (_exact(r[2]), _exact(r[3])) for r in on_copy} == expected


def test_balances_take_the_last_month_and_flows_add_up_by_quarter(built: Built) -> None:
    table = query_metrics(
        ["mrr_usd", "open_ar_usd", "billings_usd", "collections_usd"],
        ["metric_time__quarter"],
        built.settings,
        target_path=built.target_path,
    )
    got = {_month(r["metric_time__quarter"]): r for r in table.records()}
    months = built.rows(
        "select month_start, mrr_usd, open_ar_usd, billings_usd, collections_usd "
        "from kpi.kpi_monthly where currency_code = 'ALL' order by month_start"
    )
    by_quarter: dict[dt.date, list[dict[str, Any]]] = {}
    for m in months:
        start = m["month_start"]
        by_quarter.setdefault(dt.date(start.year, 3 * ((start.month - 1) // 3) + 1, 1), []).append(
            m
        )
    assert set(got) == set(by_quarter)
    for quarter, rows in by_quarter.items():
        last = rows[-1]
        # month-end balances are non-additive over time: the quarter's is its last month's
        assert _exact(got[quarter]["mrr_usd"]) == last["mrr_usd"], quarter
        assert _exact(got[quarter]["open_ar_usd"]) == last["open_ar_usd"], quarter
        # flows add up over the quarter's months
        for flow in ("billings_usd", "collections_usd"):
            assert _exact(got[quarter][flow]) == sum(r[flow] for r in rows), (quarter, flow)
