"""Reading `erp_corrections` from the warehouse: the contract, and bodies from typed columns."""

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


def _typed_table(con: duckdb.DuckDBPyConnection) -> None:
    """erp_corrections as the model builds it: contract columns, then the typed ones."""
    con.execute("create schema main_writeback")
    con.execute(
        "create table main_writeback.erp_corrections as select * from (values "
        "('c1', 'e1', 'invoice_missing_in_erp', 'invoice', 'create', null, 'in_1', 'externalid',"
        " null, 'in_1', 'ignored', 0.00::decimal(38, 2), true, null::timestamp, null, 'KWD', 3,"
        " null, null, null, null, '5', '77', null, null, null, date '2026-10-01', 'in_1', null,"
        " null, null, null, null, null), "
        "('c2', 'e2', 'payment_missing_in_erp', 'customerpayment', 'create', null, 'ch_1',"
        " 'externalid', null, 'ch_1', null, 0.00, true, null, null, 'JPY', 0, null, null, null,"
        " null, '4', null, null, null, '001B', date '2026-10-02', 'ch_1', 1100.000::decimal(38, 3),"
        " null, 'in_9', 1100.000, null, null), "
        "('c3', 'e3', 'customer_attribute_mismatch', 'customer', 'update', '12', null, "
        " 'companyname', 'Acme', 'Acme Ltd', null, 0.00, false, null, 'companyName', 'USD', 2,"
        " 'Acme Ltd', null, null, null, null, null, null, null, null, null, null, null, null,"
        " null, null, null, null)) "
        "t(correction_id, exception_id, exception_type, record_type, action, erp_id, external_id,"
        " field, current_value, desired_value, payload, amount_delta_usd, requires_approval,"
        " detected_at, record_field, currency_code, currency_exponent, company_name, email,"
        " custentity_cl_tax_id, subsidiary_ref, currency_ref, entity_ref, entity_external_id,"
        " customer_ref, customer_external_id, tran_date, other_ref_num, payment, apply_doc_ref,"
        " apply_doc_external_id, apply_amount, total, status_ref)"
    )
    con.execute(
        "create table main_writeback.erp_correction_lines as select * from (values "
        "('c1', 2, null, 'prod_b', 1::bigint, 0.5::decimal(38, 3), 'B'), "
        "('c1', 1, '31', null, 3, 12.3456, 'A')) "
        "t(correction_id, line, item_ref, item_external_id, quantity, amount, description)"
    )


def test_create_bodies_are_assembled_from_typed_columns() -> None:
    con = duckdb.connect()
    _typed_table(con)
    invoice, payment, name = read_corrections(con)
    # the derived `payload` text is not read; amounts carry the currency's decimals
    assert invoice.payload == {
        "externalId": "in_1",
        "otherRefNum": "in_1",
        "entity": {"id": "77"},
        "currency": {"id": "5"},
        "tranDate": "2026-10-01",
        "item": {
            "items": [
                {"item": {"id": "31"}, "quantity": 3, "amount": "12.346", "description": "A"},
                {"item": {"externalId": "prod_b"}, "quantity": 1, "amount": "0.500",
                 "description": "B"},
            ]
        },
    }  # fmt: skip
    assert payment.payload is not None
    assert payment.payload["customer"] == {"externalId": "001B"}
    assert payment.payload["payment"] == "1100"  # JPY: no minor unit
    assert payment.payload["apply"] == {
        "items": [{"doc": {"externalId": "in_9"}, "apply": True, "amount": "1100"}]
    }
    assert (name.payload, name.record_field, name.value("company_name")) == (
        None,
        "companyName",
        "Acme Ltd",
    )
    assert invoice.currency_exponent == 3 and payment.currency_exponent == 0
