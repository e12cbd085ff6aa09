"""Run the dbt project in-process (`closeloop transform`, tests, benchmarks, orchestration)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from closeloop.settings import DBT_TARGET_ENV, Settings, disable_telemetry

log = logging.getLogger(__name__)

#: The dbt project (profiles.yml lives in it too).
DBT_PROJECT_DIR = Path(__file__).resolve().parent.parent / "dbt_project"


@dataclass
class DbtOutcome:
    """What a dbt invocation did: success, per-node statuses and the raw dbt result."""

    success: bool
    statuses: dict[str, str] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: the error lines dbt logged (e.g. why a run-operation failed)
    errors: list[str] = field(default_factory=list)
    result: Any = None
    exception: BaseException | None = None

    def counts(self) -> dict[str, int]:
        """How many nodes ended in each status."""
        out: dict[str, int] = {}
        for status in self.statuses.values():
            out[status] = out.get(status, 0) + 1
        return out


def dbt_env(settings: Settings | None = None, target: str | None = None) -> dict[str, str]:
    """The environment dbt reads (profiles.yml): the warehouse path and target from `settings`."""
    return (settings or Settings.from_env()).dbt_env(target)


@contextmanager
def patched_env(values: Mapping[str, str]) -> Iterator[None]:
    """Set environment variables for the `with` block only, restoring what was there."""
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def without_unit_tests(args: Sequence[str]) -> list[str]:
    """`args` with `--exclude-resource-type unit_test` added to a `build` that selects no types."""
    out = list(args)
    if not out or out[0] != "build":
        return out
    if any(a in ("--resource-type", "--resource-types", "--exclude-resource-type") for a in out):
        return out
    return [*out, "--exclude-resource-type", "unit_test"]


def run_dbt(
    args: Sequence[str],
    settings: Settings | None = None,
    *,
    target: str | None = None,
    target_path: Path | None = None,
    extra_env: Mapping[str, str] | None = None,
    unit_tests: bool = False,
) -> DbtOutcome:
    """Run one dbt command (`["build"]`, `["run", "-s", "kpi"]`, ...) against the project.

    Args:
        args: the dbt command line without `dbt`.
        settings: closeloop settings (read from the environment when omitted).
        target: dbt target (`dev`, `prod`, `ci_snowflake`); default from `DBT_TARGET` or the
            warehouse setting.
        target_path: where dbt writes compiled SQL and artifacts (default dbt_project/target).
        extra_env: more environment variables for profiles.yml (e.g. `FAKESNOW_PORT`).
        unit_tests: let a `build` run the unit tests too. closeloop's own builds leave them out
            (dbt's advice: they belong in CI, and they bind to whatever columns a young landing
            happens to have); `make test` runs them (tests/dbt/test_unit.py).

    Returns:
        The outcome, with each node's status and the failing or warning nodes by name.
    """
    from dbt.cli.main import dbtRunner  # dbt is heavy to import: only when used

    disable_telemetry()
    env = dbt_env(settings, target)
    env.update(extra_env or {})
    args = without_unit_tests(args) if not unit_tests else list(args)
    cli = [*args, "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR)]
    if target_path is not None:
        cli += ["--target-path", str(target_path)]
    log.info("dbt %s (target %s)", " ".join(args), env[DBT_TARGET_ENV])
    errors: list[str] = []

    def keep_errors(event: Any) -> None:
        # what dbt only logs (a run-operation's compilation error, ...), kept for the caller
        if getattr(event.info, "level", "") == "error" and event.info.msg:
            errors.append(str(event.info.msg))

    with patched_env(env):
        res = dbtRunner(callbacks=[keep_errors]).invoke(cli)
    outcome = DbtOutcome(
        success=bool(res.success), result=res, exception=res.exception, errors=errors
    )
    results = getattr(res.result, "results", None) or []
    for node_result in results:
        node = getattr(node_result, "node", None)  # a run-operation's results carry no node
        name = getattr(node, "unique_id", None) or getattr(node_result, "unique_id", None)
        name = name or str(node)
        status = str(node_result.status)
        outcome.statuses[name] = status
        if status in ("error", "fail", "runtime error"):
            outcome.failures.append(f"{name}: {node_result.message}")
        elif status == "warn":
            outcome.warnings.append(f"{name}: {node_result.message}")
    return outcome
