"""The input contract: rows of the dbt model `erp_corrections`, one per correction."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import duckdb

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
        field: the field to change (SuiteQL or record API spelling).
        current_value: what the warehouse saw in the ERP.
        desired_value: what the system of record says.
        payload: the full record body of a create (or an explicit update body).
        amount_delta_usd: the money at stake, in USD.
        requires_approval: the model's own opinion (the policy can only make it stricter).
        detected_at: when the exception was detected.
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

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Correction:
        """Build from a mapping of contract columns (values as DuckDB returns them)."""
        payload = row.get("payload")
        if isinstance(payload, str) and payload.strip():
            payload = json.loads(payload, parse_float=Decimal)
        elif not isinstance(payload, dict):
            payload = None
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
        )


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float):
        # a float id/value means a model cast it carelessly; keep what it meant exactly
        return repr(value).removesuffix(".0")
    return str(value)


def find_model(con: duckdb.DuckDBPyConnection, name: str) -> str | None:
    """The qualified name of a dbt model in the warehouse (`"schema"."name"`), or None.

    dbt's schema naming depends on the profile and `generate_schema_name`, so the model is
    looked up by table name; a schema that ends in `writeback`/`recon` wins a tie.
    """
    rows = con.execute(
        "select table_schema from information_schema.tables where table_name = ? "
        "order by case when table_schema like '%writeback' or table_schema like '%recon' "
        "then 0 else 1 end, table_schema",
        [name],
    ).fetchall()
    if not rows:
        return None
    return f'"{rows[0][0]}"."{name}"'


#: Spellings of an earlier draft of the model, read as the contract's columns (with a warning).
_ALIASES = {"field": "field_name", "action": "correction_action"}


def _action_of(correction_action: str | None) -> tuple[str, str | None]:
    """`update_erp_invoice` -> (`update`, None); `void_erp_invoice` -> (`update`, `V`)."""
    verb = (correction_action or "").split("_", 1)[0].lower()
    if verb == "void":
        return "update", "V"
    return verb, None


def read_corrections(con: duckdb.DuckDBPyConnection) -> list[Correction]:
    """Read every row of `erp_corrections`.

    Raises:
        ContractError: when the model is absent or lacks contracted columns.
    """
    table = find_model(con, "erp_corrections")
    if table is None:
        raise ContractError(
            "the warehouse has no erp_corrections model yet: run `closeloop transform` first"
        )
    cols = [r[0] for r in con.execute(f"select * from {table} limit 0").description or []]
    select: list[str] = []
    deviations: list[str] = []
    missing: list[str] = []
    for c in CONTRACT_COLUMNS:
        if c in cols:
            select.append(f'"{c}"')
        elif _ALIASES.get(c) in cols:
            select.append(f'"{_ALIASES[c]}" as "{c}"')
            deviations.append(f"{_ALIASES[c]} for {c}")
        elif c == "payload":
            select.append('null as "payload"')
            deviations.append("no payload (creates cannot be planned)")
        else:
            missing.append(c)
    if missing:
        raise ContractError(f"{table} lacks the contracted column(s) {', '.join(missing)}")
    if deviations:
        log.warning("%s deviates from the contract: %s", table, "; ".join(deviations))
    rows = con.execute(
        f'select {", ".join(select)} from {table} order by "correction_id"'
    ).fetchall()
    out = []
    for r in rows:
        row = dict(zip(CONTRACT_COLUMNS, r, strict=True))
        row["record_type"] = str(row["record_type"]).lower()
        if "action" not in cols:
            row["action"], status = _action_of(row["action"])
            if status is not None:
                row["field"], row["desired_value"] = "status", status
        out.append(Correction.from_row(row))
    return out
