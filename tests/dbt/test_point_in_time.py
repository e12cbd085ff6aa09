"""Point in time: a build with `known_as_of` = T reads only the records known at T (every staging
model filters by the vendor's modification stamp), so recon and the KPIs equal the build made
at T, row for row, after more records landed; the history and the closes are read, not written."""

from __future__ import annotations

import json
import shutil
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest

from closeloop.close import known_as_of_var
from closeloop.settings import Settings
from sandbox.schema import SandboxPaths
from tests.dbt.conftest import Built, query_rows
from transform import run_dbt

#: Stamps moved past T on a copied record, per system (those present in the raw table).
STAMPS = {
    "raw_crm": ("system_modstamp", "last_modified_date", "created_date"),
    "raw_erp": ("lastmodifieddate", "linelastmodifieddate", "createddate", "datecreated"),
}
BILLING_EVENTS = (
    "created",
    "updated",
    "status_transitions__finalized_at",
    "status_transitions__paid_at",
    "status_transitions__voided_at",
    "status_transitions__marked_uncollectible_at",
    "canceled_at",
    "ended_at",
)


_rows = query_rows


def _copy(built: Built, dest: Path) -> Settings:
    con = duckdb.connect(str(built.settings.duckdb_path))
    try:
        con.execute("checkpoint")
    finally:
        con.close()
    dest.mkdir(parents=True)
    settings = Settings.from_env({"CLOSELOOP_HOME": str(dest)})
    shutil.copyfile(built.settings.duckdb_path, settings.duckdb_path)
    return settings


def _land_late_records(db: Path, instant: str) -> int:
    """Copy up to 3 records of every raw table as new records stamped a day after T (a new id,
    every modification stamp set to T + 1 day): records that were not known at T."""
    late = f"(timestamp '{instant}' + interval 1 day)"
    con = duckdb.connect(str(db))
    added = 0
    try:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables where table_schema "
            "in ('raw_crm', 'raw_billing', 'raw_erp') and table_name not like '\\_dlt%' escape '\\'"
        ).fetchall()
        for schema, table in tables:
            columns = dict(
                con.execute(
                    "select column_name, data_type from information_schema.columns "
                    "where table_schema = ? and table_name = ?",
                    [schema, table],
                ).fetchall()
            )
            replace = {}
            keys = ["id"] + (["invoice"] if table == "invoice_lines" else [])
            keys += ["transaction"] if table == "transactionline" else []
            for key in keys:
                if key in columns:
                    numeric = columns[key] in ("BIGINT", "INTEGER", "DOUBLE", "HUGEINT")
                    replace[key] = f"{key} + 1000000000" if numeric else f"{key} || 'late'"
            if "_dlt_id" in columns:
                replace["_dlt_id"] = "_dlt_id || 'late'"
            if schema == "raw_billing":
                for name in BILLING_EVENTS:
                    if name in columns:
                        late_epoch = f"cast(epoch({late}) as bigint)"
                        replace[name] = (
                            late_epoch
                            if name == "created"
                            else f"case when {name} is null then null else {late_epoch} end"
                        )
            else:
                for name in STAMPS[schema]:
                    if name in columns:
                        replace[name] = f"timezone('UTC', {late})"
            if "id" not in replace:
                continue
            select = ", ".join(f"{expr} as {name}" for name, expr in replace.items())
            con.execute(
                f"insert into {schema}.{table} by name "
                f"select * replace ({select}) from {schema}.{table} limit 3"
            )
            added += 1
    finally:
        con.close()
    return added


def _staging_counts(db: Path) -> dict[str, int]:
    names = [
        r["table_name"]
        for r in _rows(
            db,
            "select table_name from information_schema.tables where table_schema = 'staging' "
            "and table_name like 'stg\\_%' escape '\\'",
        )
    ]
    return {n: _rows(db, f"select count(*) as n from staging.{n}")[0]["n"] for n in names}


def _table(db: Path, sql: str) -> list[tuple[Any, ...]]:
    return sorted(tuple(r.values()) for r in _rows(db, sql))


@pytest.mark.slow
def test_a_build_as_of_t_equals_the_build_made_at_t(built: Built, tmp_path: Path) -> None:
    clock = json.loads(SandboxPaths.under(built.home).manifest.read_text())["clock"]
    instant = known_as_of_var(clock)
    first = built.settings.duckdb_path
    exceptions_sql = "select * from recon.recon_exceptions"
    kpi_sql = "select * from kpi.kpi_monthly"
    first_exceptions, first_kpis = _table(first, exceptions_sql), _table(first, kpi_sql)
    first_counts = _staging_counts(first)

    # later: records nobody knew at T land in every raw table, and a build shows them
    settings = _copy(built, tmp_path / "later")
    db = settings.duckdb_path
    assert _land_late_records(db, instant) >= 25
    target = tmp_path / "target"
    now = run_dbt(["run"], settings, target_path=target)
    assert now.success, now.errors
    later_counts = _staging_counts(db)
    grown = {n for n in first_counts if later_counts[n] > first_counts[n]}
    assert len(grown) >= 25, sorted(set(first_counts) - grown)
    assert _table(db, exceptions_sql) != first_exceptions
    history = _table(db, "select * from recon.recon_exception_history")

    # as of T, into that later database: exactly what was known at T
    as_of = run_dbt(
        ["run", "--full-refresh", "--vars", json.dumps({"known_as_of": instant})],
        settings,
        target_path=target,
    )
    assert as_of.success, as_of.errors
    counts = _staging_counts(db)
    assert counts == first_counts, {
        n: (first_counts.get(n), counts.get(n)) for n in counts if counts[n] != first_counts.get(n)
    }
    assert _table(db, exceptions_sql) == first_exceptions
    assert _table(db, kpi_sql) == first_kpis
    # the history is read as of T, never written by a point-in-time build
    assert _table(db, "select * from recon.recon_exception_history") == history


def test_the_as_of_instant_is_read_as_utc() -> None:
    assert known_as_of_var("2026-11-01T00:00:00Z") == "2026-11-01 00:00:00"
    assert known_as_of_var("2026-11-01T01:30:00+01:00") == "2026-11-01 00:30:00"
    assert known_as_of_var("2026-10-31") == "2026-10-31 00:00:00"
    assert datetime.fromisoformat(known_as_of_var("2026-10-31 23:59:59.5"))
    with pytest.raises(ValueError):
        known_as_of_var("last tuesday")


def test_transform_as_of_refuses_what_it_cannot_read(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from closeloop.cli import app

    env = {"CLOSELOOP_HOME": str(tmp_path)}
    bad = CliRunner().invoke(app, ["transform", "build", "--as-of", "last tuesday"], env=env)
    assert bad.exit_code == 2 and "ISO 8601" in bad.output
    both = CliRunner().invoke(
        app,
        ["transform", "build", "--as-of", "2026-10-31", "--vars", "{known_as_of: x}"],
        env=env,
    )
    assert both.exit_code == 2 and "--vars" in both.output
