"""Reading `erp_corrections` from the warehouse: the contract, and the dbt draft's spellings."""

from __future__ import annotations

from decimal import Decimal

import duckdb
import pytest

from reverse_etl.corrections import ContractError, read_corrections


def test_contract_columns_are_read_exactly() -> None:
    con = duckdb.connect()
    con.execute("create schema main_writeback")
    con.execute(
        "create table main_writeback.erp_corrections as select 'c1' as correction_id, "
        "'e1' as exception_id, 'customer_missing_in_erp' as exception_type, "
        "'customer' as record_type, 'create' as action, null as erp_id, "
        "'001A' as external_id, null as field, null as current_value, null as desired_value, "
        """'{"companyName": "Acme", "subsidiary": {"id": "1"}, "x": 12.50}' as payload, """
        "12.34::decimal(18, 2) as amount_delta_usd, true as requires_approval, "
        "timestamp '2026-10-01 10:00:00' as detected_at"
    )
    (c,) = read_corrections(con)
    assert (c.correction_id, c.action, c.external_id, c.erp_id) == ("c1", "create", "001A", None)
    assert c.payload == {"companyName": "Acme", "subsidiary": {"id": "1"}, "x": Decimal("12.50")}
    assert c.amount_delta_usd == Decimal("12.34") and c.requires_approval


def test_missing_model_or_columns_is_a_contract_error() -> None:
    con = duckdb.connect()
    with pytest.raises(ContractError, match="no erp_corrections model"):
        read_corrections(con)
    con.execute("create table erp_corrections (correction_id varchar, exception_id varchar)")
    with pytest.raises(ContractError, match=r"lacks the contracted column.*exception_type"):
        read_corrections(con)


def test_draft_spellings_are_mapped() -> None:
    con = duckdb.connect()
    con.execute(
        "create table erp_corrections as select * from (values "
        "('c1', 'e1', 'invoice_duplicate_in_erp', 'invoice', 'void_erp_invoice', '67', null, "
        " 'status', 'A', 'V'), "
        "('c2', 'e2', 'payment_amount_mismatch', 'customerPayment', 'update_erp_payment', '70', "
        " null, 'foreigntotal', '1078.00', '1100.00')) "
        "t(correction_id, exception_id, exception_type, record_type, correction_action, erp_id, "
        "external_id, field_name, current_value, desired_value)"
    )
    con.execute(
        "create or replace table erp_corrections as select *, 0.0::decimal(38, 2) as "
        "amount_delta_usd, false as requires_approval, null::timestamp as detected_at "
        "from erp_corrections"
    )
    void, payment = read_corrections(con)
    assert (void.action, void.field, void.desired_value) == ("update", "status", "V")
    assert (payment.record_type, payment.action, payment.field) == (
        "customerpayment",
        "update",
        "foreigntotal",
    )
    assert payment.payload is None
