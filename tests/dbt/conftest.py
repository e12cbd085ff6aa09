"""The dbt suite's shared state: a `small` sandbox served, ingested and built once per session."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest

from closeloop.settings import Settings
from ingestion.pipelines import run_ingest
from tests.ingestion.support import env_for, patched_env, served
from transform import DbtOutcome, run_dbt


@dataclass
class Built:
    """A sandbox home whose warehouse holds the raw landing and a full `dbt build`."""

    home: Path
    target_path: Path
    build: DbtOutcome

    @property
    def settings(self) -> Settings:
        return Settings.from_env({"CLOSELOOP_HOME": str(self.home)})

    def dbt(self, *args: str) -> DbtOutcome:
        """Run dbt again on this home (same target path, so partial parsing applies)."""
        return run_dbt(list(args), self.settings, target="dev", target_path=self.target_path)

    def rows(self, sql: str) -> list[dict[str, Any]]:
        """The rows of a query on the warehouse, as dicts."""
        return query_rows(self.settings.duckdb_path, sql)


def query_rows(db: Path, sql: str) -> list[dict[str, Any]]:
    """The rows of a query on a DuckDB warehouse file, as dicts."""
    # dbt-duckdb keeps its own connection open in this process: DuckDB shares one database
    # instance per file and configuration, so open it the way dbt does (not read-only)
    con = duckdb.connect(str(db))
    try:
        cur = con.execute(sql)
        names = [d[0] for d in cur.description or []]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    finally:
        con.close()


def copy_warehouse(built: Built, dest: Path) -> Settings:
    """A private copy of the built home (warehouse and sandbox files) under `dest`."""
    con = duckdb.connect(str(built.settings.duckdb_path))
    try:
        con.execute("checkpoint")
    finally:
        con.close()
    home = dest / "home"
    home.mkdir(parents=True)
    shutil.copytree(built.home / "sandbox", home / "sandbox")
    settings = Settings.from_env({"CLOSELOOP_HOME": str(home)})
    shutil.copyfile(built.settings.duckdb_path, settings.duckdb_path)
    return settings


@pytest.fixture(scope="session")
def built(small_sandbox_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    """Serve a copy of the session's `small` sandbox, ingest it, and `dbt build` once."""
    home = tmp_path_factory.mktemp("dbt-home")
    shutil.copytree(small_sandbox_home / "sandbox", home / "sandbox")
    with served(home) as sandbox, patched_env(env_for(home, sandbox.urls)):
        run_ingest()
    target_path = home / "dbt-target"
    outcome = run_dbt(
        ["build"],
        Settings.from_env({"CLOSELOOP_HOME": str(home)}),
        target="dev",
        target_path=target_path,
    )
    yield Built(home, target_path, outcome)
    shutil.rmtree(home, ignore_errors=True)
