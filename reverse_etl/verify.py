"""Verify: after the next ERP ingestion and dbt build, applied corrections' exceptions are gone."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from reverse_etl.corrections import ContractError
from reverse_etl.ledger import Ledger
from reverse_etl.warehouse import Warehouse

#: What must be rebuilt after a write for verify to see the ERP as it now is: the models between
#: the raw ERP tables and the corrections (dbt selection).
VERIFY_REBUILD = "source:raw_erp+,+erp_corrections"


@dataclass
class VerifyResult:
    """Corrections verified (exception closed) and escalated (still open after the write)."""

    verified: list[str] = field(default_factory=list)
    escalated: list[str] = field(default_factory=list)
    awaiting_approval: int = 0


def open_exception_ids(con: Any) -> set[str]:
    """The `exception_id`s currently in `recon_exceptions`.

    Args:
        con: a `Warehouse`, or an open DuckDB / Snowflake connection.

    Raises:
        ContractError: when the model is not in the warehouse.
    """
    wh = Warehouse.wrap(con)
    table = wh.find_model("recon_exceptions")
    if table is None:
        raise ContractError(
            "the warehouse has no recon_exceptions model: run `closeloop transform`"
        )
    return {str(r[0]) for r in wh.query(f"select exception_id from {table}")}


def open_exceptions_by_type(con: Any) -> dict[str, int]:
    """Open exceptions by type in `recon_exceptions` (empty when the model is not built)."""
    wh = Warehouse.wrap(con)
    table = wh.find_model("recon_exceptions")
    if table is None:
        return {}
    rows = wh.query(f"select exception_type, count(*) from {table} group by exception_type")
    return {str(t): int(n) for t, n in sorted(rows)}


def verify(ledger: Ledger, open_ids: set[str] | None = None) -> VerifyResult:
    """Mark each applied correction verified or escalated.

    Args:
        ledger: the ledger (its connection also reads `recon_exceptions`).
        open_ids: the open exception ids (read from the warehouse when omitted).
    """
    if open_ids is None:
        open_ids = open_exception_ids(ledger.wh)
    result = VerifyResult()
    for item in ledger.items("status in ('applied', 'escalated')"):
        cid = item["correction_id"]
        if item["exception_id"] in open_ids:
            ledger.mark_verified(cid, False, "still open in recon_exceptions after the write")
            result.escalated.append(cid)
        else:
            ledger.mark_verified(cid, True, "exception closed in recon_exceptions")
            result.verified.append(cid)
    result.awaiting_approval = ledger.summary().get("awaiting_approval", 0)
    return result
