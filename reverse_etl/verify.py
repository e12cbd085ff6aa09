"""Verify: after the next ERP ingestion and dbt build, applied corrections' exceptions are gone."""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb

from reverse_etl.corrections import ContractError, find_model
from reverse_etl.ledger import Ledger


@dataclass
class VerifyResult:
    """Corrections verified (exception closed) and escalated (still open after the write)."""

    verified: list[str] = field(default_factory=list)
    escalated: list[str] = field(default_factory=list)
    awaiting_approval: int = 0


def open_exception_ids(con: duckdb.DuckDBPyConnection) -> set[str]:
    """The `exception_id`s currently in `recon_exceptions`.

    Raises:
        ContractError: when the model is not in the warehouse.
    """
    table = find_model(con, "recon_exceptions")
    if table is None:
        raise ContractError(
            "the warehouse has no recon_exceptions model: run `closeloop transform`"
        )
    return {str(r[0]) for r in con.execute(f"select exception_id from {table}").fetchall()}


def verify(ledger: Ledger, open_ids: set[str] | None = None) -> VerifyResult:
    """Mark each applied correction verified or escalated.

    Args:
        ledger: the ledger (its connection also reads `recon_exceptions`).
        open_ids: the open exception ids (read from the warehouse when omitted).
    """
    if open_ids is None:
        with ledger.lock:
            open_ids = open_exception_ids(ledger.con)
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
