"""The warehouse a diagnosis reads: its catalogue, queries, SQL helpers and dlt's state."""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb


class DoctorError(Exception):
    """There is nothing to diagnose (no warehouse file, no landing, unsupported warehouse)."""


@dataclass
class Landing:
    """A read connection to the warehouse and what it holds."""

    con: duckdb.DuckDBPyConnection
    path: Path
    columns: dict[tuple[str, str], list[str]] = field(default_factory=dict)

    @classmethod
    def open(cls, path: Path) -> Landing:
        """Open the DuckDB file read-only (read-write when this process already holds it, as
        dbt-duckdb does in tests: DuckDB shares one instance per file and configuration)."""
        if not path.exists():
            raise DoctorError(
                f"no warehouse at {path}: run `closeloop ingest all` first "
                "(or set CLOSELOOP_HOME to the home that holds the landing)"
            )
        try:
            try:
                con = duckdb.connect(str(path), read_only=True)
            except duckdb.ConnectionException:
                con = duckdb.connect(str(path))
        except duckdb.IOException as exc:  # another process writes it (DuckDB: one writer)
            raise DoctorError(
                f"the warehouse {path} is busy (another closeloop step holds it): {exc}; "
                "run doctor when it is done"
            ) from exc
        landing = cls(con, path)
        landing.refresh()
        return landing

    def refresh(self) -> None:
        """Read the catalogue: every table's columns, by (schema, table)."""
        self.columns = {}
        for schema, table, column in self.con.execute(
            "select table_schema, table_name, column_name from information_schema.columns "
            "order by table_schema, table_name, ordinal_position"
        ).fetchall():
            self.columns.setdefault((schema.lower(), table.lower()), []).append(column.lower())

    def close(self) -> None:
        self.con.close()

    def has(self, schema: str, table: str, *cols: str) -> bool:
        """True when the table exists with every one of `cols`."""
        have = self.columns.get((schema, table))
        return have is not None and all(c in have for c in cols)

    def cols(self, schema: str, table: str) -> list[str]:
        return self.columns.get((schema, table), [])

    def raw_tables(self) -> dict[str, list[str]]:
        """The landed tables of each raw dataset (dlt's own tables left out)."""
        out: dict[str, list[str]] = {}
        for schema, table in sorted(self.columns):
            if schema in ("raw_crm", "raw_billing", "raw_erp") and not table.startswith("_dlt"):
                out.setdefault(schema, []).append(table)
        return out

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self.con.execute(sql, list(params)).fetchall()

    def one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...]:
        row = self.con.execute(sql, list(params)).fetchone()
        assert row is not None
        return tuple(row)


def q(name: str) -> str:
    """A quoted identifier."""
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def t(schema: str, table: str) -> str:
    """A quoted schema-qualified table name."""
    return f"{q(schema)}.{q(table)}"


def pct(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


def sf_id_test(value: str, prefix: str) -> str:
    """SQL: `value` is a Salesforce id of the object of key `prefix` (the models' `is_sf_id`)."""
    # duckdb: regexp_matches (Snowflake: regexp_like)
    return (
        f"(substr({value}, 1, 3) = '{prefix}' and length({value}) in (15, 18) "
        f"and regexp_matches({value}, '^[A-Za-z0-9]+$'))"
    )


@dataclass(frozen=True)
class Link:
    """How billing records name their Salesforce record, as the models read it: one configured
    column as it is (`prefix` None), or (auto) per record the first landed column in `columns`
    whose value is a Salesforce id of the object of key `prefix`."""

    columns: tuple[str, ...]
    prefix: str | None = None

    def value(self, alias: str) -> str:
        """SQL: the linked Salesforce id of the record `alias`."""
        cols = [f"cast({alias}.{q(c)} as varchar)" for c in self.columns]
        if self.prefix is None:
            return cols[0]
        whens = " ".join(f"when {sf_id_test(c, self.prefix)} then {c}" for c in cols)
        return f"(case {whens} end)"

    def column(self, alias: str) -> str:
        """SQL: the name of the column the record's link came from."""
        if self.prefix is None:
            return literal(self.columns[0])
        whens = " ".join(
            f"when {sf_id_test(f'cast({alias}.{q(c)} as varchar)', self.prefix)} then {literal(c)}"
            for c in self.columns
        )
        return f"(case {whens} end)"


def not_deleted(landing: Landing, schema: str, table: str, alias: str = "") -> str:
    prefix = f"{alias}." if alias else ""
    if landing.has(schema, table, "is_deleted"):
        return f"not coalesce({prefix}is_deleted, false)"
    return "true"


def name_key(expr: str) -> str:
    # duckdb: the 'g' flag (Snowflake's regexp_replace replaces every match by default)
    return f"regexp_replace(lower(cast({expr} as varchar)), '[^a-z0-9]', '', 'g')"


def unique_account_names(landing: Landing) -> str:
    """SQL: normalized account names that name exactly one account (`k`, `id`)."""
    return (
        f"select {name_key('name')} as k, min(id) as id from {t('raw_crm', 'account')} "
        f"where {not_deleted(landing, 'raw_crm', 'account')} group by 1 having count(*) = 1"
    )


def dlt_source_state(landing: Landing, dataset: str, source: str) -> dict[str, Any]:
    """The newest state dlt saved for `source` in `dataset` (`_dlt_pipeline_state`), or {}."""
    if not landing.has(dataset, "_dlt_pipeline_state", "state", "version"):
        return {}
    rows = landing.rows(
        f"select state from {t(dataset, '_dlt_pipeline_state')} order by version desc limit 1"
    )
    if not rows:
        return {}
    text = str(rows[0][0])
    try:
        doc = json.loads(zlib.decompress(base64.b64decode(text, validate=True)))
    except (binascii.Error, zlib.error, ValueError):
        try:
            doc = json.loads(text)
        except ValueError:
            return {}
    state = ((doc.get("sources") or {}).get(source)) if isinstance(doc, dict) else None
    return state if isinstance(state, dict) else {}
