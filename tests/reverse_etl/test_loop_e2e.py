"""The closed loop on the `small` sandbox: ingest, dbt, plan, apply, ingest ERP, dbt, verify.

Every auto-applicable exception closes; approval-needed ones stay open until approved, then
close; refused ones are never written. A failing `dbt build` fails the test.
"""

from __future__ import annotations

import contextlib
import math
from pathlib import Path

import duckdb
import pytest

from closeloop.settings import Settings
from reverse_etl.policy import load_policy
from reverse_etl.runner import run_apply, run_approve, run_plan, run_verify
from reverse_etl.verify import open_exception_ids
from tests.ingestion.support import env_for, patched_env, served
from tests.reverse_etl.support import erp_db, write_log_count

DBT_PROJECT = Path(__file__).resolve().parents[2] / "dbt_project"


def _dbt_build(tmp: Path) -> tuple[bool, str]:
    from dbt.cli.main import dbtRunner

    from transform import dbt_env, patched_env

    args = [
        "build", "--project-dir", str(DBT_PROJECT), "--profiles-dir", str(DBT_PROJECT),
        "--target-path", str(tmp / "dbt-target"), "--log-path", str(tmp / "dbt-logs"), "--quiet",
    ]  # fmt: skip
    # the warehouse of this test's settings, whatever an earlier test left in the environment
    with patched_env(dbt_env(Settings.from_env())):
        result = dbtRunner().invoke(args)
    errors = [
        f"{r.node.name}: {r.message}"
        for r in (result.result or [])
        if getattr(r, "status", None) in ("error", "fail")
    ]
    return bool(result.success), "; ".join(errors)[:500] or str(result.exception)


def _open_ids(settings: Settings) -> set[str]:
    with contextlib.closing(duckdb.connect(str(settings.duckdb_path))) as con:
        return open_exception_ids(con)


@pytest.mark.slow
def test_closed_loop_on_small_sandbox(sandbox_home: Path, tmp_path: Path) -> None:
    from ingestion.pipelines import run_ingest

    policy = load_policy()
    with served(sandbox_home) as sandbox, patched_env(env_for(sandbox_home, sandbox.urls)):
        settings = Settings.from_env()
        run_ingest(["crm", "billing", "erp"], settings)
        ok, why = _dbt_build(tmp_path)
        assert ok, why
        before = write_log_count(sandbox_home)
        _, items, counts = run_plan(settings, policy)
        auto = [i for i in items if i.decision == "apply"]
        # issue 15's target: 1 request per 50 corrections planned, plus 1 per one applied
        budget = math.ceil(len(items) / 50) + len(auto)
        assert counts["erp_requests"] <= budget, (counts, budget)
        waiting = [i for i in items if i.decision == "approval" and i.parent_id is None]
        refused = [i for i in items if i.decision == "refused"]
        assert auto, "nothing auto-applicable in the plan"
        assert write_log_count(sandbox_home) == before  # plan is a dry run

        result = run_apply(settings, policy)
        assert result.applied == len(auto) and not result.errors, result.errors
        assert write_log_count(sandbox_home) - before == len(auto)
        assert run_apply(settings, policy).requests == 0  # a second apply writes nothing

        # refused corrections never reached the ERP
        written = {r[0] for r in erp_db(sandbox_home).execute("select path from _write_log")}
        for item in refused:
            if item.erp_id:
                assert not any(p.endswith(f"/{item.record_type}/{item.erp_id}") for p in written)

        run_ingest(["erp"], settings)
        ok, why = _dbt_build(tmp_path)
        assert ok, why
        still_open = _open_ids(settings)
        assert not {i.exception_id for i in auto} & still_open
        assert {i.exception_id for i in waiting} <= still_open
        verified = run_verify(settings, policy)
        assert len(verified.verified) == len(auto) and not verified.escalated

        if waiting:
            ids = [i.correction_id for i in waiting]
            approved, problems = run_approve(settings, policy, "e2e-approver", ids)
            assert approved == ids and not problems
            assert run_apply(settings, policy).applied == len(waiting)
            run_ingest(["erp"], settings)
            ok, why = _dbt_build(tmp_path)
            assert ok, why
            assert not {i.exception_id for i in waiting} & _open_ids(settings)
