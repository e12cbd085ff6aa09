"""The warehouse reverse ETL reads and keeps its ledger in: DuckDB or Snowflake, one interface.

A `Warehouse` wraps a DB-API connection opened from the settings (the DuckDB file, or
`snowflake.connector` with the settings' Snowflake account) and runs SQL written to work on
both: `?` parameters (bound client-side on Snowflake), plain types, no engine-only functions.
Differences are kept here: the JSON column type, how a dbt model's schema and name are found
(Snowflake upper-cases unquoted names), and closing (DuckDB checkpoints).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from closeloop.settings import Settings

Kind = Literal["duckdb", "snowflake"]


class Warehouse:
    """One connection to the warehouse, shared by threads behind `lock`.

    Args:
        con: an open DB-API connection using `?` parameters.
        kind: `duckdb` or `snowflake`.
        owned: close the connection in `close()`.
    """

    def __init__(self, con: Any, kind: Kind = "duckdb", *, owned: bool = False) -> None:
        self.con = con
        self.kind: Kind = kind
        self.owned = owned
        self.lock = threading.RLock()

    # -- opening ----------------------------------------------------------------------------

    @classmethod
    def duckdb(cls, path: Path | str) -> Warehouse:
        """The embedded warehouse file (created when missing)."""
        import duckdb

        Path(path).parent.mkdir(parents=True, exist_ok=True)
        return cls(duckdb.connect(str(path)), "duckdb", owned=True)

    @classmethod
    def connect(cls, settings: Settings) -> Warehouse:
        """The warehouse the settings name (`CLOSELOOP_WAREHOUSE`)."""
        if settings.warehouse == "duckdb":
            return cls.duckdb(settings.duckdb_path)
        import snowflake.connector

        sf = settings.snowflake
        params: dict[str, Any] = {
            "account": sf.account,
            "user": sf.user,
            "password": str(sf.password),
            "database": sf.database,
            "schema": sf.schema,
            # the connector's default: values bound client-side (`%s`), as literals; server-side
            # binding (`qmark`) of decimals is what fakesnow cannot read
            "paramstyle": "pyformat",
        }
        for key in ("role", "warehouse", "host", "port", "protocol"):
            value = getattr(sf, key)
            if value:
                params[key] = value
        return cls(snowflake.connector.connect(**params), "snowflake", owned=True)

    @classmethod
    def wrap(cls, con: Any) -> Warehouse:
        """An open connection (the caller closes it): DuckDB's, or a Snowflake connector's."""
        if isinstance(con, Warehouse):
            view = cls(con.con, con.kind, owned=False)
            view.lock = con.lock
            return view
        module = type(con).__module__
        kind: Kind = "snowflake" if "snowflake" in module or "fakesnow" in module else "duckdb"
        return cls(con, kind, owned=False)

    def close(self) -> None:
        """Checkpoint (DuckDB) and close a connection this object opened."""
        if not self.owned:
            return
        with self.lock:
            if self.kind == "duckdb":
                self.con.execute("checkpoint")
            self.con.close()

    def __enter__(self) -> Warehouse:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- SQL --------------------------------------------------------------------------------

    @property
    def json_type(self) -> str:
        """The column type of a JSON document kept as text."""
        return "json" if self.kind == "duckdb" else "varchar"

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> Any:
        """Run one statement; returns the cursor (description, fetchall)."""
        with self.lock:
            if self.kind == "duckdb":
                # one connection, one transaction: a DuckDB cursor would be a second one
                return self.con.execute(sql, list(params) if params else [])
            cur = self.con.cursor()
            if params:
                cur.execute(self._bind(sql), list(params))
            else:
                cur.execute(sql)
            return cur

    def _bind(self, sql: str) -> str:
        """`?` placeholders in the connection's style (a Snowflake connection opened elsewhere
        may bind client-side, `%s`, where a literal `%` is written `%%`)."""
        if getattr(self.con, "_paramstyle", "qmark") in ("qmark", "numeric"):
            return sql
        return sql.replace("%", "%%").replace("?", "%s")

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement for each row of parameters."""
        if not rows:
            return
        with self.lock:
            if self.kind == "duckdb":
                self.con.executemany(sql, [list(r) for r in rows])
                return
            cur = self.con.cursor()
            cur.executemany(self._bind(sql), [list(r) for r in rows])

    def query(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        """Rows of a query."""
        with self.lock:
            cur = self.execute(sql, params)
            return [tuple(r) for r in cur.fetchall()]

    def records(self, sql: str, params: Sequence[Any] | None = None) -> list[dict[str, Any]]:
        """Rows of a query as dicts keyed by lower-case column name."""
        with self.lock:
            cur = self.execute(sql, params)
            cols = [str(d[0]).lower() for d in cur.description or []]
            return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]

    def columns(self, table: str) -> list[str]:
        """Lower-case column names of a table or view."""
        with self.lock:
            cur = self.execute(f"select * from {table} where 1 = 0")
            cur.fetchall()
            return [str(d[0]).lower() for d in cur.description or []]

    def script(self, sql: str) -> None:
        """Run `;`-separated statements (DDL), one at a time."""
        for statement in sql.split(";"):
            if statement.strip():
                self.execute(statement)

    def find_model(self, name: str) -> str | None:
        """The quoted qualified name of a dbt model (`"schema"."name"`), or None.

        dbt's schema naming depends on the profile and `generate_schema_name`, so the model is
        looked up by table name; a schema that ends in `writeback`/`recon` wins a tie.
        """
        rows = self.query(
            "select table_schema, table_name from information_schema.tables "
            "where lower(table_name) = lower(?) "
            "order by case when lower(table_schema) like '%writeback' "
            "or lower(table_schema) like '%recon' then 0 else 1 end, table_schema",
            [name],
        )
        if not rows:
            return None
        schema, table = rows[0]
        return f'"{schema}"."{table}"'
