"""The read-only copy for BI: equal to the warehouse's marts, readable while a build runs."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb

from closeloop.publish import Published, publish_warehouse
from closeloop.settings import DEFAULT_PUBLISH_NAME, PUBLISH_PATH_ENV, Settings
from tests.dbt.conftest import Built

#: The schemas BI reads (models/exposures.yml).
MART_SCHEMAS = ("core", "kpi", "recon", "ops", "writeback")

#: A BI client in its own process: holds one read-only connection to the published copy and
#: queries it until told to stop, then opens a fresh connection once more.
READER = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    import duckdb

    path, stop = sys.argv[1], Path(sys.argv[2])
    con = duckdb.connect(path, read_only=True)
    seen = []
    while not stop.exists():
        seen.append(con.execute("select count(*), sum(mrr_usd) from kpi.kpi_monthly").fetchone())
        time.sleep(0.05)
    fresh = duckdb.connect(path, read_only=True)
    again = fresh.execute("select count(*), sum(mrr_usd) from kpi.kpi_monthly").fetchone()
    print(json.dumps({"queries": len(seen), "answers": sorted({str(s) for s in seen}),
                      "fresh": str(again)}))
    """
)


def _publish(built: Built, dest: Path) -> Published:
    settings = dataclasses.replace(built.settings, publish_path=dest)
    published = publish_warehouse(settings)
    assert published is not None
    assert published.path == dest and dest.is_file()
    assert not list(dest.parent.glob(f".{dest.name}.*"))  # no temp file left behind
    return published


def _assert_marts_equal(built: Built, copy: Path) -> int:
    con = duckdb.connect(str(built.settings.duckdb_path))
    try:
        con.execute(f"attach '{copy}' as published (read_only)")
        source = con.execute("select current_database()").fetchone()
        assert source is not None
        tables = con.execute(
            "select schema_name, table_name from duckdb_tables() "
            "where database_name = ? and list_contains(?, schema_name) order by 1, 2",
            [source[0], list(MART_SCHEMAS)],
        ).fetchall()
        published = con.execute(
            "select schema_name, table_name from duckdb_tables() "
            "where database_name = 'published' and list_contains(?, schema_name) order by 1, 2",
            [list(MART_SCHEMAS)],
        ).fetchall()
        assert tables == published
        for schema, table in tables:
            ours = f'"{source[0]}"."{schema}"."{table}"'
            theirs = f'published."{schema}"."{table}"'
            for a, b in ((ours, theirs), (theirs, ours)):
                diff = con.execute(
                    f"select count(*) from (select * from {a} except all select * from {b})"
                ).fetchone()
                assert diff == (0,), f"{schema}.{table} differs in the published copy"
        return len(tables)
    finally:
        con.execute("detach database if exists published")
        con.close()


def test_publish_path_is_a_setting_defaulting_under_the_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    settings = Settings.from_env({"CLOSELOOP_HOME": str(home)})
    assert settings.publish_path == home.resolve() / DEFAULT_PUBLISH_NAME
    elsewhere = tmp_path / "bi" / "closeloop.duckdb"
    env = {"CLOSELOOP_HOME": str(home), PUBLISH_PATH_ENV: str(elsewhere)}
    assert Settings.from_env(env).publish_path == elsewhere
    off = Settings.from_env({"CLOSELOOP_HOME": str(home), PUBLISH_PATH_ENV: "off"})
    assert off.publish_path is None
    assert publish_warehouse(off) is None


def test_published_copy_equals_the_marts(built: Built, tmp_path: Path) -> None:
    dest = tmp_path / "bi" / DEFAULT_PUBLISH_NAME
    published = _publish(built, dest)
    assert published.tables >= _assert_marts_equal(built, dest) >= 15


def test_bi_reads_the_copy_while_a_build_runs(built: Built, tmp_path: Path) -> None:
    dest = tmp_path / DEFAULT_PUBLISH_NAME
    _publish(built, dest)
    stop = tmp_path / "stop"
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(dest), str(stop)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(1.0)  # the reader is connected and querying
        # a new build writes the warehouse while BI holds its read-only connection to the copy
        outcome = built.dbt("run", "--select", "kpi_monthly")
        assert outcome.success, outcome.failures
        # and publishing again replaces the file under the open connection, atomically
        _publish(built, dest)
    finally:
        stop.touch()
        stdout, stderr = reader.communicate(timeout=60)
    assert reader.returncode == 0, stderr
    report = json.loads(stdout)
    assert report["queries"] >= 10  # it was never blocked for the build's duration
    # the open connection kept one consistent copy; a new connection reads the new file
    assert len(report["answers"]) == 1
    assert report["fresh"] == report["answers"][0]
    _assert_marts_equal(built, dest)
