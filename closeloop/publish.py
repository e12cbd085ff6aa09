"""Publish a read-only copy of the DuckDB warehouse for BI after each build (docs/bi.md).

DuckDB has one writer per file: while the pipeline holds the warehouse, no other process can
open it, not even read-only. So after each build closeloop copies the warehouse, as one
transactionally consistent snapshot (`COPY FROM DATABASE` into a fresh file next to the
destination), and renames the copy over the published file. The rename is atomic: a BI tool
opening the published file gets the previous copy or the new one, never a half-written file, and
a connection already open keeps reading its copy until it reconnects. The destination is the
setting `CLOSELOOP_PUBLISH_PATH` (default `<home>/bi/closeloop.duckdb`: named as the warehouse,
so SQL compiled against the `closeloop` catalog runs on it; `off` disables).
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

from closeloop.settings import Settings

log = logging.getLogger(__name__)

#: The catalog name the copy is attached under while it is written.
_ALIAS = "closeloop_publish"


class PublishError(RuntimeError):
    """The warehouse could not be copied (e.g. another process holds it)."""


@dataclass(frozen=True)
class Published:
    """What a publish wrote."""

    path: Path
    tables: int
    seconds: float


def _quoted(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _remove(path: Path) -> None:
    for stale in (path, path.with_name(path.name + ".wal")):
        stale.unlink(missing_ok=True)


def publish_warehouse(settings: Settings) -> Published | None:
    """Copy the warehouse to `settings.publish_path` atomically; None when there is nothing to do.

    Nothing is published on Snowflake (it has no single-writer file) or when the setting is off.

    Raises:
        PublishError: the warehouse could not be opened or copied; the published file, if any,
            is left as it was.
    """
    dest = settings.publish_path
    if settings.warehouse != "duckdb" or dest is None:
        return None
    source = settings.duckdb_path
    if not source.is_file():
        raise PublishError(f"no warehouse at {source} to publish")
    if dest.resolve() == source.resolve():
        raise PublishError(f"the published copy cannot be the warehouse itself ({source})")
    started = time.monotonic()
    dest.parent.mkdir(parents=True, exist_ok=True)
    # next to the destination, so the rename stays on one file system (and is atomic)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    _remove(tmp)
    try:
        con = duckdb.connect(str(source))
    except duckdb.Error as exc:
        raise PublishError(f"cannot open {source} to publish it: {exc}") from exc
    try:
        catalog = con.execute("select current_database()").fetchone()
        assert catalog is not None
        con.execute(f"attach {_quoted(tmp)} as {_ALIAS}")
        try:
            con.execute(f'copy from database "{catalog[0]}" to {_ALIAS}')
            tables = con.execute(
                "select count(*) from duckdb_tables() where database_name = ?", [_ALIAS]
            ).fetchone()
        finally:
            con.execute(f"detach {_ALIAS}")  # checkpoints the copy: no WAL is left beside it
    except duckdb.Error as exc:
        _remove(tmp)
        raise PublishError(f"copying {source} to {tmp} failed: {exc}") from exc
    finally:
        con.close()
    os.replace(tmp, dest)
    done = Published(dest, int(tables[0]) if tables else 0, time.monotonic() - started)
    log.info("published %s (%d tables) in %.1f s", dest, done.tables, done.seconds)
    return done


def publish_after_build(settings: Settings) -> Published | None:
    """`publish_warehouse` for the end of a build: a failure is logged, never raised.

    A BI copy that could not be refreshed must not fail the pipeline that built the warehouse;
    BI keeps reading the previous copy.
    """
    try:
        return publish_warehouse(settings)
    except PublishError as exc:
        log.warning("the read-only copy for BI was not refreshed: %s", exc)
        return None
