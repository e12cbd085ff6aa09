"""Serve fakesnow (a Snowflake stand-in) and copy a DuckDB raw landing into it with INSERTs."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb

RAW_SCHEMAS = ("raw_crm", "raw_billing", "raw_erp")
DATABASE = "CLOSELOOP"


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def fakesnow_server(workdir: Path) -> Iterator[int]:
    """Run `fakesnow -s` on a free port in its own session; yield the port; stop it."""
    port = free_port()
    exe = Path(sys.executable).parent / "fakesnow"
    log = (workdir / "fakesnow.log").open("w")
    proc = subprocess.Popen(
        [str(exe), "-s", "-p", str(port), "-d", str(workdir / "fakesnow-db")],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if proc.poll() is not None:
                raise RuntimeError(f"fakesnow exited: {(workdir / 'fakesnow.log').read_text()}")
            time.sleep(0.2)
        yield port
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def connect(port: int) -> Any:
    """A Snowflake connector connection to the fakesnow server."""
    import snowflake.connector

    return snowflake.connector.connect(
        account="fakesnow",
        user="fake",
        password="snow",
        host="localhost",
        port=port,
        protocol="http",
        database=DATABASE,
        schema="PUBLIC",
    )


def _snowflake_type(duck_type: str) -> str:
    t = duck_type.upper()
    if t.startswith("DECIMAL"):
        return t.replace("DECIMAL", "NUMBER")
    if t == "TIMESTAMP WITH TIME ZONE":
        return "TIMESTAMP_TZ"
    if t == "TIMESTAMP":
        return "TIMESTAMP_NTZ"
    return {"VARCHAR": "VARCHAR", "BIGINT": "NUMBER(38, 0)", "BOOLEAN": "BOOLEAN",
            "DOUBLE": "FLOAT", "DATE": "DATE"}.get(t, "VARCHAR")  # fmt: skip


def copy_raw(
    duckdb_path: Path,
    port: int,
    batch_size: int = 1000,
    schemas: tuple[str, ...] = RAW_SCHEMAS,
    tables: tuple[str, ...] | None = None,
) -> dict[str, int]:
    """Create the raw tables of the DuckDB landing in fakesnow and INSERT their rows.

    `schemas`: the raw datasets copied (all three by default; `("raw_erp",)` after a re-read);
    `tables`: only these tables of them (all when None).

    Returns:
        Rows copied per `schema.table`.
    """
    # not read-only: an in-process dbt-duckdb may hold the file, and DuckDB shares one
    # instance per file only between connections of the same configuration
    src = duckdb.connect(str(duckdb_path))
    con = connect(port)
    copied: dict[str, int] = {}
    try:
        cur = con.cursor()
        cur.execute(f"create database if not exists {DATABASE}")
        cur.execute(f"use database {DATABASE}")
        found = src.execute(
            "select table_schema, table_name from information_schema.tables "
            f"where table_schema in ({', '.join('?' for _ in schemas)}) "
            "and table_name not like '\\_dlt%' escape '\\' order by 1, 2",
            list(schemas),
        ).fetchall()
        for schema, table in found:
            if tables is not None and table not in tables:
                continue
            cols = src.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = ? and table_name = ? order by ordinal_position",
                [schema, table],
            ).fetchall()
            cur.execute(f"create schema if not exists {schema}")
            ddl = ", ".join(f'"{c.upper()}" {_snowflake_type(t)}' for c, t in cols)
            cur.execute(f'create or replace table {schema}."{table.upper()}" ({ddl})')
            select = ", ".join(
                f'cast("{c}" as varchar)' if t.upper().startswith("TIMESTAMP") else f'"{c}"'
                for c, t in cols
            )
            rows = src.execute(f'select {select} from {schema}."{table}"').fetchall()
            marks = ", ".join(["%s"] * len(cols))
            # modest batches: one huge multi-row INSERT makes the client time out and resend
            for start in range(0, len(rows), batch_size):
                cur.executemany(
                    f'insert into {schema}."{table.upper()}" values ({marks})',
                    rows[start : start + batch_size],
                )
            copied[f"{schema}.{table}"] = len(rows)
    finally:
        con.close()
        src.close()
    return copied
