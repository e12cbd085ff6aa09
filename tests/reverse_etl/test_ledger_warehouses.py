"""The ledger and the readers run the same SQL on DuckDB and on Snowflake (fakesnow): a plan,
an approval, an attempt written before the request and closed after, a verify, and a re-plan
that keeps what landed (a write-back never applies twice)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from reverse_etl.corrections import read_corrections
from reverse_etl.ledger import Ledger
from reverse_etl.plan import APPLY, APPROVAL, Check, PlanItem
from reverse_etl.verify import open_exception_ids, verify
from reverse_etl.warehouse import Warehouse
from tests.dbt.fakesnow_support import DATABASE, connect, fakesnow_server


@pytest.fixture(scope="module")
def fakesnow_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    with fakesnow_server(tmp_path_factory.mktemp("fakesnow")) as port:
        yield port


@pytest.fixture(
    params=["duckdb", pytest.param("snowflake", marks=pytest.mark.snowflake)],
)
def warehouse(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Warehouse]:
    if request.param == "duckdb":
        with Warehouse.duckdb(tmp_path / "w.duckdb") as wh:
            yield wh
        return
    port = request.getfixturevalue("fakesnow_port")
    con = connect(port)
    con.cursor().execute(f"create database if not exists {DATABASE}")
    schema = f"t_{tmp_path.name[-12:].replace('-', '_')}"
    con.cursor().execute(f"create schema if not exists {DATABASE}.{schema}")
    con.cursor().execute(f"use schema {DATABASE}.{schema}")
    try:
        yield Warehouse.wrap(con)
    finally:
        con.close()


def _item(n: int, decision: str) -> PlanItem:
    return PlanItem(
        correction_id=f"c{n}",
        exception_id=f"e{n}",
        exception_type="invoice_amount_mismatch",
        record_type="invoice",
        action="update",
        decision=decision,
        reason="test",
        # a whole amount first, then cents: binding must keep both exact on both engines
        amount_delta_usd=Decimal(0) if n == 1 else Decimal("1200.50"),
        method="PATCH",
        path=f"/services/rest/record/v1/invoice/{n}",
        body={"item": {"items": [{"amount": "12.500"}]}},
        if_match=f'"v{n}"',
        idempotency_key=f"cl-{n}",
        checks=[Check("equals", "invoice", str(n), {"total": "12.5"})],
        before={"total": None},
    )


def _models(wh: Warehouse) -> None:
    """`recon_exceptions` and `erp_corrections` as dbt builds them, typed columns included."""
    wh.execute("create schema if not exists recon")
    wh.execute("create or replace table recon.recon_exceptions (exception_id varchar)")
    wh.execute("insert into recon.recon_exceptions values ('e1')")
    wh.execute("create schema if not exists writeback")
    wh.execute(
        "create or replace table writeback.erp_corrections (correction_id varchar, "
        "exception_id varchar, exception_type varchar, record_type varchar, action varchar, "
        "erp_id varchar, external_id varchar, field varchar, current_value varchar, "
        "desired_value varchar, payload varchar, amount_delta_usd decimal(38, 2), "
        "requires_approval boolean, detected_at timestamp, record_field varchar, "
        "currency_code varchar, currency_exponent integer, company_name varchar, email varchar, "
        "custentity_cl_tax_id varchar, subsidiary_ref varchar, currency_ref varchar, "
        "entity_ref varchar, entity_external_id varchar, customer_ref varchar, "
        "customer_external_id varchar, tran_date date, other_ref_num varchar, "
        "payment decimal(38, 3), apply_doc_ref varchar, apply_doc_external_id varchar, "
        "apply_amount decimal(38, 3), total decimal(38, 3), status_ref varchar)"
    )
    row: list[Any] = [
        "c9", "e9", "payment_missing_in_erp", "customerpayment", "create", None, "ch_9",
        "externalid", None, "ch_9", None, "1.50", True, None,  # the contract columns
        None, "KWD", 3, None, None, None, None, "5", None, None,  # .. currency_ref
        "77", None, "2026-10-02", "ch_9", "7.25", "41", None, "7.25", None, None,
    ]  # fmt: skip
    wh.execute(f"insert into writeback.erp_corrections values ({', '.join('?' * 34)})", row)


def test_ledger_runs_the_same_on_both_warehouses(warehouse: Warehouse) -> None:
    _models(warehouse)
    (payment,) = read_corrections(warehouse)
    assert payment.payload is not None and payment.payload["payment"] == "7.250"
    assert payment.payload["apply"]["items"][0] == {
        "doc": {"id": "41"},
        "apply": True,
        "amount": "7.250",
    }
    assert open_exception_ids(warehouse) == {"e1"}

    with Ledger(con=warehouse) as ledger:
        run = ledger.start_run("plan", "tester", "sha")
        items = [_item(1, APPLY), _item(2, APPLY), _item(3, APPROVAL)]
        assert ledger.store_plan(items, run) == {"kept": 0, APPLY: 2, APPROVAL: 1}
        ledger.finish_run(run, "done", {"n": 3})
        assert ledger.approve(["c3", "c7"], None, "ana", run) == (
            ["c3"],
            ["c7: no such correction in the plan"],
        )
        todo = ledger.to_apply()
        assert [i["correction_id"] for i in todo] == ["c1", "c2", "c3"]
        assert [Decimal(str(i["amount_delta_usd"])) for i in todo] == [
            Decimal(0),
            Decimal("1200.50"),
            Decimal("1200.50"),
        ]
        assert todo[0]["body"] == {"item": {"items": [{"amount": "12.500"}]}}
        for item in todo[:2]:
            attempt = ledger.begin_attempt(item, run, "ana")
            assert ledger.statuses()[item["correction_id"]] == "in_flight"
            ledger.end_attempt(attempt, item["correction_id"], "ok", "applied", 204, None)
        # a re-plan keeps what landed: it is never proposed (or written) again
        assert ledger.store_plan(items, run)["kept"] == 2
        assert [i["correction_id"] for i in ledger.to_apply()] == ["c3"]
        assert ledger.attempts_of("c1") == 1

        result = verify(ledger)
        assert (result.verified, result.escalated) == (["c2"], ["c1"])
        assert ledger.summary() == {"escalated": 1, "ready": 1, "verified": 1}
