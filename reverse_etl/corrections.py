"""The input contract: rows of the dbt model `erp_corrections`, one typed row per ERP record
change, and the item lines of the invoices it creates (`erp_correction_lines`)."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from reverse_etl.records import create_body
from reverse_etl.warehouse import Warehouse

log = logging.getLogger(__name__)

#: Columns `erp_corrections` must have (the public contract of DESIGN.md / issue 5).
CONTRACT_COLUMNS = (
    "correction_id",
    "exception_id",
    "exception_type",
    "record_type",
    "action",
    "erp_id",
    "external_id",
    "field",
    "current_value",
    "desired_value",
    "payload",
    "amount_delta_usd",
    "requires_approval",
    "detected_at",
)
#: Typed columns of the record's fields (NetSuite record API names, snake case); a table
#: without them (an older build) is read with the columns it has.
TYPED_COLUMNS = (
    "record_field", "currency_code", "currency_exponent", "company_name", "email",
    "custentity_cl_tax_id", "subsidiary_ref", "currency_ref", "entity_ref",
    "entity_external_id", "customer_ref", "customer_external_id", "tran_date", "other_ref_num",
    "payment", "apply_doc_ref", "apply_doc_external_id", "apply_amount", "total", "status_ref",
)  # fmt: skip
LINE_COLUMNS = (
    "correction_id", "line", "item_ref", "item_external_id", "quantity", "amount", "description",
)  # fmt: skip


class ContractError(ValueError):
    """`erp_corrections` is missing or does not have the contracted columns."""


@dataclass(frozen=True)
class Correction:
    """One change the warehouse asks of the ERP.

    Attributes:
        correction_id: stable id (the same correction keeps it from run to run).
        exception_id: the `recon_exceptions` row it closes.
        exception_type: e.g. `invoice_amount_mismatch`.
        record_type: `customer`, `invoice`, `customerpayment` or `creditmemo`.
        action: `create`, `update`, `delete` or `transform`.
        erp_id: the ERP internal id (None for a create).
        external_id: the record's external id (the upsert key of a create).
        field: the field to change, SuiteQL spelling (`foreigntotal`).
        record_field: the same field as the record API names it (`total`, `companyName`):
            what an update writes.
        current_value: what the warehouse saw in the ERP.
        desired_value: what the system of record says.
        payload: the full record body of a create (assembled from the typed columns), or
            an explicit update body.
        amount_delta_usd: the money at stake, in USD.
        requires_approval: the model's own opinion (the policy can only make it stricter).
        detected_at: when the exception was detected.
        currency_code: ISO 4217 transaction currency.
        currency_exponent: decimals of its minor unit (amounts are written with them).
        values: the typed record columns of the row (`total`, `payment`, `currency_ref`...).
    """

    correction_id: str
    exception_id: str
    exception_type: str
    record_type: str
    action: str
    erp_id: str | None = None
    external_id: str | None = None
    field: str | None = None
    current_value: str | None = None
    desired_value: str | None = None
    payload: dict[str, Any] | None = None
    amount_delta_usd: Decimal | None = None
    requires_approval: bool = False
    detected_at: str | None = None
    record_field: str | None = None
    currency_code: str | None = None
    currency_exponent: int | None = None
    values: Mapping[str, Any] | None = None

    def value(self, column: str) -> Any:
        """A typed column of the row (None when absent)."""
        return None if self.values is None else self.values.get(column)

    @classmethod
    def from_row(
        cls, row: Mapping[str, Any], lines: list[dict[str, Any]] | None = None
    ) -> Correction:
        """Build from a mapping of the model's columns (values as the warehouse returns them).

        A create's body is assembled from the typed columns (and `lines`); a table without
        them (built before they existed, or by hand) gives its body as `payload` JSON text.
        """
        payload: Any = None
        if all(c in row for c in TYPED_COLUMNS):
            payload = create_body(row, lines or [])
        if payload is None:
            payload = row.get("payload")
            if isinstance(payload, str) and payload.strip():
                payload = json.loads(payload, parse_float=Decimal)
            elif not isinstance(payload, dict):
                payload = None
        exponent = row.get("currency_exponent")
        values = {c: row[c] for c in TYPED_COLUMNS if c in row}
        delta = row.get("amount_delta_usd")
        return cls(
            correction_id=str(row["correction_id"]),
            exception_id=str(row["exception_id"]),
            exception_type=str(row["exception_type"]),
            record_type=str(row["record_type"]),
            action=str(row["action"]),
            erp_id=_text(row.get("erp_id")),
            external_id=_text(row.get("external_id")),
            field=_text(row.get("field")),
            current_value=_text(row.get("current_value")),
            desired_value=_text(row.get("desired_value")),
            payload=payload,
            amount_delta_usd=None if delta is None else Decimal(str(delta)),
            requires_approval=bool(row.get("requires_approval") or False),
            detected_at=_text(row.get("detected_at")),
            record_field=_text(row.get("record_field")),
            currency_code=_text(row.get("currency_code")),
            currency_exponent=None if exponent is None else int(exponent),
            values=values or None,
        )


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float):
        # a float id/value means a model cast it carelessly; keep what it meant exactly
        return repr(value).removesuffix(".0")
    return str(value)


def find_model(con: Any, name: str) -> str | None:
    """The quoted qualified name of a dbt model in the warehouse (`"schema"."name"`), or None.

    Args:
        con: a `Warehouse`, or an open DuckDB / Snowflake connection.
    """
    return Warehouse.wrap(con).find_model(name)


def read_lines(wh: Warehouse) -> dict[str, list[dict[str, Any]]]:
    """The lines of `erp_correction_lines` by correction id (empty when the model is absent)."""
    table = wh.find_model("erp_correction_lines")
    if table is None:
        return {}
    out: dict[str, list[dict[str, Any]]] = {}
    cols = ", ".join(f'"{c}"' if wh.kind == "duckdb" else c for c in LINE_COLUMNS)
    for row in wh.records(f"select {cols} from {table} order by correction_id, line"):
        out.setdefault(str(row["correction_id"]), []).append(row)
    return out


def read_corrections(con: Any) -> list[Correction]:
    """Read every row of `erp_corrections` (and the lines of the invoices it creates).

    Args:
        con: a `Warehouse`, or an open DuckDB / Snowflake connection.

    Raises:
        ContractError: when the model is absent or lacks contracted columns.
    """
    wh = Warehouse.wrap(con)
    table = wh.find_model("erp_corrections")
    if table is None:
        raise ContractError(
            "the warehouse has no erp_corrections model yet: run `closeloop transform` first"
        )
    cols = wh.columns(table)
    missing = [c for c in CONTRACT_COLUMNS if c not in cols]
    if missing:
        raise ContractError(f"{table} lacks the contracted column(s) {', '.join(missing)}")
    wanted = [*CONTRACT_COLUMNS, *(c for c in TYPED_COLUMNS if c in cols)]
    quoted = ", ".join(f'"{c}"' if wh.kind == "duckdb" else c for c in wanted)
    rows = wh.query(f"select {quoted} from {table} order by correction_id")
    lines = read_lines(wh) if all(c in cols for c in TYPED_COLUMNS) else {}
    out = []
    for r in rows:
        row = dict(zip(wanted, r, strict=True))
        row["record_type"] = str(row["record_type"]).lower()
        out.append(Correction.from_row(row, lines.get(str(row["correction_id"]))))
    return out
