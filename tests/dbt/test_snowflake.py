"""Milestone 5: the project runs on Snowflake (fakesnow) with the same reconciliation as DuckDB,
and the compiled SQL of every model parses as Snowflake SQL."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest
import sqlglot

from closeloop.settings import Settings
from ingestion.pipelines import run_ingest
from sandbox.generator import generate
from sandbox.schema import SandboxPaths
from tests.dbt.fakesnow_support import connect, copy_raw, fakesnow_server
from tests.ingestion.support import env_for, patched_env, served
from transform import DbtOutcome, run_dbt

pytestmark = pytest.mark.slow

# Few customers: fakesnow takes rows through the Snowflake protocol at a few hundred a second.
CUSTOMERS = 40
RECON_COLUMNS = (
    "exception_id", "exception_type", "crm_id", "billing_id", "erp_id", "field_name",
    "correct_value", "wrong_value", "severity", "owner_system", "correction_action",
)  # fmt: skip


@dataclass
class TwoEngines:
    """One landing built on DuckDB and on fakesnow, with both recon results."""

    duckdb_build: DbtOutcome
    snowflake_build: DbtOutcome
    duckdb_recon: set[tuple[Any, ...]]
    snowflake_recon: set[tuple[Any, ...]]
    compiled_dir: Path
    rows_copied: int


def _recon_duckdb(path: Path) -> set[tuple[Any, ...]]:
    con = duckdb.connect(str(path))
    try:
        cols = ", ".join(RECON_COLUMNS)
        return set(con.execute(f"select {cols} from recon.recon_exceptions").fetchall())
    finally:
        con.close()


def _recon_snowflake(port: int) -> set[tuple[Any, ...]]:
    con = connect(port)
    try:
        cur = con.cursor()
        cols = ", ".join(RECON_COLUMNS)
        cur.execute(f"select {cols} from recon.recon_exceptions")
        return {tuple(r) for r in cur.fetchall()}
    finally:
        con.close()


@pytest.fixture(scope="module")
def engines(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwoEngines]:
    home = tmp_path_factory.mktemp("snowflake-home")
    generate(SandboxPaths.under(home), seed=42, scale="small", customers=CUSTOMERS)
    with served(home) as sandbox, patched_env(env_for(home, sandbox.urls)):
        run_ingest()
    settings = Settings.from_env({"CLOSELOOP_HOME": str(home)})
    duck = run_dbt(["build"], settings, target="dev", target_path=home / "duck-target")
    duck_recon = _recon_duckdb(settings.duckdb_path)
    with fakesnow_server(home) as port:
        copied = copy_raw(settings.duckdb_path, port)
        snow = run_dbt(
            # fakesnow cannot run dbt's unit-test fixtures; DuckDB runs them
            ["build", "--full-refresh", "--exclude-resource-type", "unit_test"],
            settings,
            target="ci_snowflake",
            target_path=home / "snow-target",
            extra_env={"FAKESNOW_PORT": str(port)},
        )
        snow_recon = _recon_snowflake(port) if snow.success else set()
    yield TwoEngines(
        duck, snow, duck_recon, snow_recon, home / "snow-target" / "compiled", sum(copied.values())
    )
    shutil.rmtree(home, ignore_errors=True)


def test_snowflake_build_is_clean(engines: TwoEngines) -> None:
    assert engines.rows_copied > 1000
    assert engines.duckdb_build.success, engines.duckdb_build.failures
    assert engines.snowflake_build.failures == []
    assert engines.snowflake_build.success, engines.snowflake_build.exception
    print("fakesnow build:", engines.snowflake_build.counts())


def test_snowflake_reconciles_like_duckdb(engines: TwoEngines) -> None:
    assert engines.duckdb_recon, "the landing should hold injected discrepancies"
    assert engines.snowflake_recon == engines.duckdb_recon


def test_compiled_models_parse_as_snowflake_sql(engines: TwoEngines) -> None:
    files = sorted(engines.compiled_dir.rglob("models/**/*.sql"))
    models = [f for f in files if "/models/" in str(f) and not f.parent.name.endswith(".yml")]
    assert len(models) >= 40
    for path in models:
        sql = path.read_text()
        # raises on anything Snowflake's grammar (as sqlglot knows it) does not accept
        parsed = sqlglot.parse(sql, read="snowflake")
        assert parsed and all(p is not None for p in parsed), path.name
