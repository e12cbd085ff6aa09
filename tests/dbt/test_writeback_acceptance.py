"""Write-back honours acceptances: an exception a person accepted as it is is never planned or
written, and its status stays `accepted` (docs/exceptions.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from closeloop.exceptions import record_action
from closeloop.settings import Settings
from reverse_etl.corrections import read_corrections
from reverse_etl.ledger import Ledger
from reverse_etl.runner import run_apply, run_plan
from reverse_etl.warehouse import Warehouse
from tests.dbt.conftest import Built, copy_warehouse, query_rows
from tests.ingestion.support import env_for, served
from tests.reverse_etl.support import fast_policy
from transform import run_dbt

WRITEBACK = ["run", "--select", "erp_corrections", "erp_correction_lines"]


def _rows(settings: Settings, sql: str) -> list[dict[str, Any]]:
    return query_rows(settings.duckdb_path, sql)


def _corrected(settings: Settings) -> set[str]:
    return {r["exception_id"] for r in _rows(settings, "select * from writeback.erp_corrections")}


def test_an_accepted_exception_is_never_planned(built: Built, tmp_path: Path) -> None:
    settings = copy_warehouse(built, tmp_path)
    target = tmp_path / "target"
    # one automatic correction of each kind write-back would make: a create and an update
    picked = _rows(
        settings,
        "select exception_id, action from writeback.erp_corrections where not requires_approval "
        "and action in ('create', 'update') "
        "qualify row_number() over (partition by action order by exception_id) = 1",
    )
    assert {r["action"] for r in picked} == {"create", "update"}
    accepted = sorted(r["exception_id"] for r in picked)
    other = _rows(
        settings,
        "select exception_id from writeback.erp_corrections where not requires_approval "
        f"and exception_id not in ('{accepted[0]}', '{accepted[1]}') limit 1",
    )[0]["exception_id"]

    record_action(settings, accepted, "accept", actor="controller",
                  reason="timing: the integration posts it", target_path=target)  # fmt: skip
    run_dbt_ok(settings, target, *WRITEBACK)
    corrections = _corrected(settings)
    assert not corrections & set(accepted)
    assert other in corrections

    # the plan reads no correction for them, and plans none; the history still says accepted
    with Warehouse.connect(settings) as wh:
        read = {c.exception_id for c in read_corrections(wh)}
    assert not read & set(accepted) and other in read
    home = settings.home
    with served(home) as sandbox:
        env = env_for(home, sandbox.urls)
        planned_settings = Settings.from_env(env)
        _, items, _ = run_plan(planned_settings, fast_policy(), actor="test")
    planned = {i.exception_id for i in items}
    assert not planned & set(accepted) and other in planned
    with Ledger.open(settings) as ledger:
        assert not [i for i in ledger.items() if i["exception_id"] in accepted]
    run_dbt_ok(settings, target, "run", "--select", "recon_exception_history")
    history = _rows(
        settings,
        "select exception_id, status, accepted_by from recon.recon_exception_history "
        f"where exception_id in ('{accepted[0]}', '{accepted[1]}')",
    )
    assert {(h["status"], h["accepted_by"]) for h in history} == {("accepted", "controller")}

    # reopened, it is write-back's work again
    record_action(settings, [accepted[0]], "reopen", actor="controller",
                  reason="not timing after all", target_path=target)  # fmt: skip
    run_dbt_ok(settings, target, *WRITEBACK)
    corrections = _corrected(settings)
    assert accepted[0] in corrections and accepted[1] not in corrections


def test_an_exception_accepted_after_the_plan_is_not_applied(built: Built, tmp_path: Path) -> None:
    settings = copy_warehouse(built, tmp_path)
    target = tmp_path / "target"
    home = settings.home
    with served(home) as sandbox:
        env = env_for(home, sandbox.urls)
        planned_settings = Settings.from_env(env)
        _, items, _ = run_plan(planned_settings, fast_policy(), actor="test")
        ready = sorted(i.exception_id for i in items if i.decision == "apply" and i.method)
        accepted, other = ready[0], ready[1]
        record_action(settings, [accepted], "accept", actor="controller",
                      reason="timing: the integration posts it", target_path=target)  # fmt: skip
        result = run_apply(planned_settings, fast_policy(), actor="test")
        with Ledger.open(planned_settings) as ledger:
            statuses = {i["exception_id"]: (i["status"], i["note"]) for i in ledger.items()}
            attempts = ledger.wh.query(
                "select count(*) from writeback_ledger.attempts as a "
                "inner join writeback_ledger.items as i on a.correction_id = i.correction_id "
                "where i.exception_id = ?",
                [accepted],
            )[0][0]
    assert result.accepted >= 1
    assert statuses[accepted][0] == "skipped" and "accepted" in statuses[accepted][1]
    assert attempts == 0
    assert statuses[other][0] == "applied"


def run_dbt_ok(settings: Settings, target: Path, *args: str) -> None:
    outcome = run_dbt(list(args), settings, target_path=target)
    assert outcome.success, outcome.errors
