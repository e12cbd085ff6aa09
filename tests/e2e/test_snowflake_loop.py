"""The whole loop with `CLOSELOOP_WAREHOUSE=snowflake` against fakesnow (a Snowflake stand-in):
ingest, transform, plan, apply, re-read, rebuild and verify, with the write-back ledger in the
warehouse (`writeback_ledger` in fakesnow) and nothing written twice.

What fakesnow cannot run, and how it is covered:

- dlt's Snowflake destination loads through a stage (`PUT`), which fakesnow lacks: the sources
  land in a DuckDB landing with dlt, as ingestion does, and `copy_raw` INSERTs the raw tables
  into fakesnow (`tests/dbt/fakesnow_support.py`). The raw tables are the same.
- A second run of an incremental model fails on fakesnow (temporary tables): the rebuild
  after the write is a `--full-refresh` of the same selection.
- dbt's unit-test fixtures do not run on fakesnow (DuckDB runs them in `tests/dbt`).

The compiled SQL of the write-back models, and every statement the ledger and the readers
send, parse as Snowflake SQL (sqlglot), so a real account gets the same statements.

Size: fakesnow takes rows through the Snowflake protocol at 150-300 a second, so the sandbox
is `small` with 20 customers (the full `small` company lands ~80,000 raw rows, an hour of
INSERTs). Measured on a loaded machine: 40 customers 297 s (copy 150 s, transform 90 s), 20
customers 193 s (dlt 10, copy 81, transform 64, plan 3, apply 1, reread+rebuild 37, verify 0.4).
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import sqlglot

from closeloop.settings import Settings
from ingestion.pipelines import ERP_SWEEP_NOW, run_ingest
from reverse_etl.ledger import SCHEMA, Ledger
from reverse_etl.policy import load_policy
from reverse_etl.runner import run_apply, run_plan, run_verify
from reverse_etl.verify import VERIFY_REBUILD, open_exception_ids
from reverse_etl.warehouse import Warehouse
from sandbox.generator import generate
from sandbox.schema import SandboxPaths
from tests.dbt.fakesnow_support import DATABASE, copy_raw, fakesnow_server
from tests.ingestion.support import env_for, patched_env, served
from tests.reverse_etl.support import write_log_count
from transform import run_dbt

pytestmark = pytest.mark.snowflake

CUSTOMERS = 20
#: Rows a fakesnow INSERT carries: measured 3,000 rows of transactionline in 20.0 s by 250,
#: 18.8 s by 1,000, 10.2 s by 3,000 (fakesnow parses each statement; fewer go faster).
COPY_BATCH = 2500
#: The raw ERP tables a write-back changes, copied again after the re-read.
ERP_WRITTEN = ("customer", "transaction", "transactionline", "previoustransactionlink")


def _snowflake_env(home: Path, port: int, sources: dict[str, str]) -> dict[str, str]:
    return {
        **sources,
        "CLOSELOOP_HOME": str(home),
        "CLOSELOOP_WAREHOUSE": "snowflake",
        "DBT_TARGET": "ci_snowflake",
        "FAKESNOW_PORT": str(port),
        "SNOWFLAKE_ACCOUNT": "fakesnow",
        "SNOWFLAKE_USER": "fake",
        "SNOWFLAKE_PASSWORD": "snow",
        "SNOWFLAKE_DATABASE": DATABASE,
        "SNOWFLAKE_SCHEMA": "PUBLIC",
        "SNOWFLAKE_HOST": "localhost",
        "SNOWFLAKE_PORT": str(port),
        "SNOWFLAKE_PROTOCOL": "http",
    }


@pytest.fixture(scope="module")
def fakesnow_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, int]]:
    home = tmp_path_factory.mktemp("snowflake-loop")
    t = time.monotonic()
    generate(SandboxPaths.under(home), seed=42, scale="small", customers=CUSTOMERS)
    print(f"sandbox generated in {time.monotonic() - t:.1f} s")
    with fakesnow_server(home) as port:
        yield home, port
    shutil.rmtree(home, ignore_errors=True)


def _land(
    settings: Settings,
    port: int,
    systems: list[str],
    seconds: dict[str, float],
    options: Mapping[str, Mapping[str, Any]] | None = None,
    tables: tuple[str, ...] | None = None,
) -> None:
    """Ingest with dlt into the DuckDB landing, then INSERT the raw tables into fakesnow."""
    landing = dataclasses.replace(settings, warehouse="duckdb")
    t = time.monotonic()
    run_ingest(systems, landing, source_options=options)
    seconds["dlt"] = seconds.get("dlt", 0.0) + time.monotonic() - t
    t = time.monotonic()
    schemas = tuple(f"raw_{s}" for s in systems)
    copy_raw(landing.duckdb_path, port, COPY_BATCH, schemas=schemas, tables=tables)
    seconds["copy"] = seconds.get("copy", 0.0) + time.monotonic() - t


@pytest.fixture
def sent_sql(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every statement reverse ETL sends through `Warehouse` (recorded, still run)."""
    sent: list[str] = []
    execute, executemany = Warehouse.execute, Warehouse.executemany

    def recording_execute(self: Warehouse, sql: str, params: Any = None) -> Any:
        sent.append(sql)
        return execute(self, sql, params)

    def recording_executemany(self: Warehouse, sql: str, rows: Any) -> None:
        sent.append(sql)
        executemany(self, sql, rows)

    monkeypatch.setattr(Warehouse, "execute", recording_execute)
    monkeypatch.setattr(Warehouse, "executemany", recording_executemany)
    return sent


def test_whole_loop_on_snowflake(fakesnow_home: tuple[Path, int], sent_sql: list[str]) -> None:
    home, port = fakesnow_home
    policy = load_policy()
    seconds: dict[str, float] = {}
    with served(home) as sandbox:
        sources = env_for(home, sandbox.urls)
        env = _snowflake_env(home, port, sources)
        with patched_env(env):
            settings = Settings.from_env()
            assert settings.warehouse == "snowflake"
            assert settings.dbt_env()["DBT_TARGET"] == "ci_snowflake"

            t = time.monotonic()
            _land(settings, port, ["crm", "billing", "erp"], seconds)
            seconds["ingest"] = time.monotonic() - t

            t = time.monotonic()
            snow = {"FAKESNOW_PORT": str(port)}
            target = home / "snow-target"
            # every model (and the seed); the data tests of the write-back's inputs (the KPI
            # tests run on fakesnow in tests/dbt/test_snowflake.py)
            built = run_dbt(
                ["build", "--full-refresh", "--exclude-resource-type", "unit_test",
                 "--exclude-resource-type", "test"],
                settings, target_path=target, extra_env=snow,
            )  # fmt: skip
            assert built.success, built.failures or built.exception
            tested = run_dbt(
                ["test", "--exclude-resource-type", "unit_test", "--select",
                 "recon_exceptions erp_corrections erp_correction_lines"],
                settings, target_path=target, extra_env=snow,
            )  # fmt: skip
            seconds["transform"] = time.monotonic() - t
            assert tested.success and tested.statuses, tested.failures or tested.exception

            t = time.monotonic()
            before = write_log_count(home)
            _, items, counts = run_plan(settings, policy)
            seconds["plan"] = time.monotonic() - t
            auto = [i for i in items if i.decision == "apply"]
            assert auto, f"nothing auto-applicable on fakesnow: {counts}"
            assert write_log_count(home) == before  # the plan is a dry run

            t = time.monotonic()
            applied = run_apply(settings, policy)
            seconds["apply"] = time.monotonic() - t
            assert applied.applied == len(auto) and not applied.errors, applied.errors
            assert write_log_count(home) - before == len(auto)
            assert run_apply(settings, policy).requests == 0  # never twice

            # the ledger lives in the warehouse: fakesnow's writeback_ledger schema
            with Warehouse.connect(settings) as wh:
                assert wh.kind == "snowflake"
                statuses = dict(
                    wh.query(f"select status, count(*) from {SCHEMA}.items group by status")
                )
                assert statuses.get("applied") == len(auto)
                attempts = wh.query(
                    f"select count(*), count(distinct correction_id) from {SCHEMA}.attempts"
                )
                assert attempts == [(len(auto), len(auto))]

            t = time.monotonic()
            # the ERP tables a write changes (rates, periods and items it does not)
            _land(settings, port, ["erp"], seconds, {"erp": ERP_SWEEP_NOW}, ERP_WRITTEN)
            rebuilt = run_dbt(
                ["run", "--full-refresh", "--select", VERIFY_REBUILD],
                settings,
                target_path=home / "snow-target-verify",
                extra_env=snow,
            )
            seconds["reread_rebuild"] = time.monotonic() - t
            assert rebuilt.success, rebuilt.failures or rebuilt.exception
            with Warehouse.connect(settings) as wh:
                still_open = open_exception_ids(wh)
            assert not {i.exception_id for i in auto} & still_open

            t = time.monotonic()
            verified = run_verify(settings, policy)
            seconds["verify"] = time.monotonic() - t
            assert len(verified.verified) == len(auto) and not verified.escalated
            with Ledger.open(settings) as ledger:
                assert ledger.summary().get("verified") == len(auto)
    print("fakesnow loop seconds:", {k: round(v, 1) for k, v in seconds.items()})

    # what fakesnow accepted is Snowflake SQL as sqlglot knows it too: every statement the
    # ledger and the readers sent (`?` bound by the connector), and the compiled write-back
    # models
    assert len(sent_sql) > 20
    for sql in set(sent_sql):
        assert sqlglot.parse_one(sql.replace("?", "'x'"), read="snowflake") is not None, sql
    compiled = sorted((home / "snow-target" / "compiled").rglob("models/writeback/*.sql"))
    assert {p.stem for p in compiled} == {"erp_corrections", "erp_correction_lines"}
    for path in compiled:
        assert all(sqlglot.parse(path.read_text(), read="snowflake")), path.name
