"""An adjusting document write-back posts in an open period, for a correction a closed period
refused, resolves its exception once the ERP holds it: the exception closes (verified_closed)
and the document raises no exception of its own (docs/exceptions.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from closeloop.exceptions import refresh_history
from closeloop.settings import Settings
from ingestion.pipelines import ERP_SWEEP_NOW, run_system
from reverse_etl.runner import run_apply, run_approve, run_plan, run_verify
from tests.dbt.conftest import Built, copy_warehouse, query_rows
from tests.ingestion.support import env_for, patched_env, served
from tests.reverse_etl.support import fast_policy
from transform import run_dbt

REBUILD = ["run", "--select", "source:raw_erp+,+erp_corrections", "recon_in_transit"]


def _rows(settings: Settings, sql: str) -> list[dict[str, Any]]:
    return query_rows(settings.duckdb_path, sql)


def test_an_applied_adjusting_document_resolves_its_exception(built: Built, tmp_path: Path) -> None:
    settings = copy_warehouse(built, tmp_path)
    target = tmp_path / "target"
    before = {r["exception_id"] for r in _rows(settings, "select * from recon.recon_exceptions")}
    policy = fast_policy()
    with served(settings.home) as sandbox:
        env = env_for(settings.home, sandbox.urls)
        live = Settings.from_env(env)
        # the sandbox's ERP has closed periods: their corrections are refused, with an
        # adjusting document proposed for approval in an open period
        _, items, _ = run_plan(live, policy, actor="test")
        proposals = [i for i in items if i.parent_id and i.decision == "approval"]
        kinds: dict[tuple[str, str, str], Any] = {}
        for item in proposals:
            kinds.setdefault((item.exception_type, item.record_type, item.action), item)
        # beside the document in error: an invoice or credit memo for an amount difference, a
        # payment for a short payment, the credit memo closing a duplicate
        beside = {k: v for k, v in kinds.items() if not k[0].endswith("missing_in_erp")}
        assert {k[0] for k in beside} >= {
            "invoice_amount_mismatch",
            "payment_amount_mismatch",
            "invoice_duplicate_in_erp",
        }
        chosen = list(kinds.values())
        approved, problems = run_approve(
            live, policy, "controller", ids=[i.correction_id for i in chosen]
        )
        assert not problems and len(approved) == len(chosen)
        result = run_apply(live, policy, actor="test")
        assert result.rejected == result.failed == 0
        with patched_env(env):
            run_system("erp", live, source_options=ERP_SWEEP_NOW)
        outcome = run_dbt(REBUILD, live, target_path=target)
        assert outcome.success, outcome.errors
        verdict = run_verify(live, policy, actor="test")
        assert refresh_history(live, target_path=target).success

    adjustments = {
        r["correction_id"]: r for r in _rows(settings, "select * from recon.recon_adjustments")
    }
    assert set(adjustments) >= {i.correction_id for i in chosen}
    resolved = {i.exception_id for i in chosen}
    after = {r["exception_id"] for r in _rows(settings, "select * from recon.recon_exceptions")}
    # each exception is resolved, and no adjusting document is an exception of its own
    assert not resolved & after
    assert after <= before, _rows(
        settings,
        "select exception_type, erp_id, billing_id from recon.recon_exceptions where "
        f"exception_id not in ({', '.join(repr(e) for e in before)})",
    )
    in_transit = {r["erp_id"] for r in _rows(settings, "select erp_id from recon.recon_in_transit")}
    assert not in_transit & {a["erp_id"] for a in adjustments.values()}
    assert {i.correction_id for i in chosen} <= set(verdict.verified)
    history = {
        r["exception_id"]: r for r in _rows(settings, "select * from recon.recon_exception_history")
    }
    assert {history[e]["status"] for e in resolved} == {"verified_closed"}
