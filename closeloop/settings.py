"""The one settings object: every layer (CLI, dlt, dbt, Dagster, sandbox) reads its choices here.

This is the one module that names environment variables and reads them (the names are a public
contract, see README "Settings"); other modules ask `Settings`, or use the names below to build
the environment of a child process (dbt's profile, a served sandbox, a test). Source base URLs
and credentials also come from `.dlt/secrets.toml` and `.dlt/config.toml`, read as dlt reads
them (`[sources.<system>]`, environment variables first), so closeloop and dlt see the same
values. Values have sensible defaults for the embedded setup.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

Warehouse = Literal["duckdb", "snowflake"]

# --- environment variable names (a public contract) -------------------------------------------

#: closeloop's home: the warehouse file, the sandbox, Dagster's storage.
HOME_ENV = "CLOSELOOP_HOME"
#: `duckdb` or `snowflake`.
WAREHOUSE_ENV = "CLOSELOOP_WAREHOUSE"
#: A CA file trusted for HTTPS sources.
CA_BUNDLE_ENV = "CLOSELOOP_CA_BUNDLE"
#: The DuckDB file dbt's profile opens (written for dbt, from the home).
DUCKDB_PATH_ENV = "CLOSELOOP_DUCKDB_PATH"
#: The dbt target of profiles.yml (`dev`, `prod`, `ci_snowflake`).
DBT_TARGET_ENV = "DBT_TARGET"
#: Who approves a write-back plan (`closeloop approve`).
APPROVER_ENV = "CLOSELOOP_APPROVER"
#: Sandbox faults of every system; `<name>_<CRM|BILLING|ERP>` for one system.
SANDBOX_FAULTS_ENV = "CLOSELOOP_SANDBOX_FAULTS"
#: Dagster's instance directory.
DAGSTER_HOME_ENV = "DAGSTER_HOME"
#: Thresholds of the reconciliation checks.
MAX_OPEN_EXCEPTIONS_ENV = "CLOSELOOP_MAX_OPEN_EXCEPTIONS"
MAX_CRITICAL_EXCEPTIONS_ENV = "CLOSELOOP_MAX_CRITICAL_EXCEPTIONS"
SYNC_SLA_MINUTES_ENV = "CLOSELOOP_SYNC_SLA_MINUTES"
#: Where dlt looks for its `.dlt` folder instead of the working directory.
DLT_PROJECT_DIR_ENV = "DLT_PROJECT_DIR"
#: The read-only copy of the DuckDB warehouse published for BI after each build (docs/bi.md);
#: default `<home>/bi/closeloop.duckdb`; `off` (or empty) publishes nothing.
PUBLISH_PATH_ENV = "CLOSELOOP_PUBLISH_PATH"
#: The published copy under the home, by default. Named as the warehouse, so the copy's catalog
#: is `closeloop` too and SQL that dbt or MetricFlow compiled (`"closeloop"."kpi"...`) runs on it.
DEFAULT_PUBLISH_NAME = "bi/closeloop.duckdb"

#: The Snowflake account closeloop's own connections use (the ledger, readers), as dbt's
#: `prod` profile reads them; host, port and protocol only for a stand-in such as fakesnow.
SNOWFLAKE_ENV = {
    key: f"SNOWFLAKE_{key.upper()}"
    for key in ("account", "user", "password", "role", "database", "warehouse", "schema",
                "host", "port", "protocol")
}  # fmt: skip

#: Defaults of the reconciliation checks' thresholds.
DEFAULT_MAX_OPEN_EXCEPTIONS = 1000
DEFAULT_MAX_CRITICAL_EXCEPTIONS = 0
#: Billing to ERP: an invoice should be posted within a day.
DEFAULT_SYNC_SLA_MINUTES = 24 * 60

#: The source systems, and dlt's key of each one's credential in `[sources.<system>]`.
CREDENTIAL_KEYS = {"crm": "access_token", "billing": "api_key", "erp": "access_token"}
#: dlt's key of a source's base URL in `[sources.<system>]`.
BASE_URL_KEY = "base_url"


def sandbox_faults_env(system: str) -> str:
    """The variable holding one system's sandbox faults (`CLOSELOOP_SANDBOX_FAULTS_CRM`)."""
    return f"{SANDBOX_FAULTS_ENV}_{system.upper()}"


def source_env(system: str, key: str) -> str:
    """dlt's environment variable of a source setting (`SOURCES__CRM__BASE_URL`)."""
    return f"SOURCES__{system.upper()}__{key.upper()}"


#: The environment variables pointing dlt (and the settings) at each source: (base URL, credential).
SOURCE_ENV: dict[str, tuple[str, str]] = {
    system: (source_env(system, BASE_URL_KEY), source_env(system, key))
    for system, key in CREDENTIAL_KEYS.items()
}

#: Every source's base URL variable at once, as messages name them (`SOURCES__*__BASE_URL`).
BASE_URL_ENV_PATTERN = source_env("*", BASE_URL_KEY)

#: Where each system's credential is configured (named in auth errors).
CREDENTIAL_ENV = {system: token_env for system, (_, token_env) in SOURCE_ENV.items()}

#: Environment switches that keep dbt, dlt, Dagster and Snowflake's client from phoning home.
TELEMETRY_OFF = {
    "DO_NOT_TRACK": "1",
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    "RUNTIME__DLTHUB_TELEMETRY": "false",
    "DAGSTER_DISABLE_TELEMETRY": "1",
    "SNOWFLAKE_DISABLE_PLATFORM_DETECTION": "true",
}


def disable_telemetry(env: os._Environ[str] | dict[str, str] | None = None) -> None:
    """Switch off every telemetry and version check (there is no network to send it to).

    Values a user set explicitly are left alone.
    """
    target = os.environ if env is None else env
    for key, value in TELEMETRY_OFF.items():
        target.setdefault(key, value)


def set_dagster_home(path: Path) -> None:
    """Point Dagster at its instance directory for this process."""
    os.environ[DAGSTER_HOME_ENV] = str(path)


def sandbox_faults(system: str, faults: str = "", env: Mapping[str, str] | None = None) -> str:
    """One sandbox system's fault spec: its own variable, else `faults`, else the shared one."""
    env = os.environ if env is None else env
    return env.get(sandbox_faults_env(system), faults or env.get(SANDBOX_FAULTS_ENV, ""))


class Secret(str):
    """A string that never shows itself in repr, logs or tracebacks."""

    def __repr__(self) -> str:
        return "Secret('****')"


def dlt_settings_dir(env: Mapping[str, str] | None = None) -> Path:
    """dlt's project `.dlt` folder: under `DLT_PROJECT_DIR`, else the working directory."""
    env = os.environ if env is None else env
    return Path(env.get(DLT_PROJECT_DIR_ENV) or Path.cwd()) / ".dlt"


def dlt_source_values(settings_dir: Path) -> dict[str, dict[str, Any]]:
    """`[sources.<system>]` of `.dlt/secrets.toml` over `.dlt/config.toml` (dlt's order).

    Missing files are empty; a file that is not TOML raises `tomllib.TOMLDecodeError`, as dlt
    would when it loads it.
    """
    out: dict[str, dict[str, Any]] = {system: {} for system in CREDENTIAL_KEYS}
    for name in ("config.toml", "secrets.toml"):  # later wins: secrets.toml before config.toml
        path = settings_dir / name
        if not path.is_file():
            continue
        sources = tomllib.loads(path.read_text(encoding="utf-8")).get("sources") or {}
        for system in out:
            section = sources.get(system)
            if isinstance(section, dict):
                out[system].update(section)
    return out


@dataclass(frozen=True)
class SourceSettings:
    """Where one source system is and how to authenticate."""

    name: str
    base_url: str | None
    token: Secret = field(repr=False)
    token_env: str = ""

    @property
    def configured(self) -> bool:
        """True when a base URL points at a real (or external) system."""
        return bool(self.base_url)


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, got {raw!r}") from None


@dataclass(frozen=True)
class SnowflakeSettings:
    """The Snowflake account of `CLOSELOOP_WAREHOUSE=snowflake` (defaults as profiles.yml)."""

    account: str = ""
    user: str = ""
    password: Secret = field(default=Secret(""), repr=False)
    role: str = "TRANSFORMER"
    database: str = "CLOSELOOP"
    warehouse: str = "TRANSFORMING"
    schema: str = "ANALYTICS"
    host: str | None = None
    port: int | None = None
    protocol: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SnowflakeSettings:
        """Read `SNOWFLAKE_*`."""
        got = {k: env.get(name) or None for k, name in SNOWFLAKE_ENV.items()}
        base = cls()
        return cls(
            account=got["account"] or base.account,
            user=got["user"] or base.user,
            password=Secret(got["password"] or ""),
            role=got["role"] or base.role,
            database=got["database"] or base.database,
            warehouse=got["warehouse"] or base.warehouse,
            schema=got["schema"] or base.schema,
            host=got["host"],
            port=_int(env, SNOWFLAKE_ENV["port"], 0) or None,
            protocol=got["protocol"],
        )


@dataclass(frozen=True)
class Settings:
    """closeloop's configuration, read once from the environment and dlt's `.dlt` files."""

    home: Path
    warehouse: Warehouse
    crm: SourceSettings
    billing: SourceSettings
    erp: SourceSettings
    ca_bundle: Path | None = None
    #: the dbt target asked for (`DBT_TARGET`); None: chosen by the warehouse
    dbt_target: str | None = None
    max_open_exceptions: int = DEFAULT_MAX_OPEN_EXCEPTIONS
    max_critical_exceptions: int = DEFAULT_MAX_CRITICAL_EXCEPTIONS
    sync_sla_minutes: int = DEFAULT_SYNC_SLA_MINUTES
    #: the Snowflake account (`CLOSELOOP_WAREHOUSE=snowflake`)
    snowflake: SnowflakeSettings = field(default_factory=SnowflakeSettings)
    #: the read-only copy published for BI after each build; None: not published
    publish_path: Path | None = None

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, *, dlt_dir: Path | None = None
    ) -> Settings:
        """Read the settings from environment variables and dlt's `.dlt` files.

        A source's base URL and credential come from `SOURCES__<SYSTEM>__<KEY>`, else from
        `[sources.<system>]` of `.dlt/secrets.toml`, else of `.dlt/config.toml`, as dlt
        resolves them.

        Args:
            env: a mapping to read instead of `os.environ` (tests).
            dlt_dir: the `.dlt` folder (default: dlt's, see `dlt_settings_dir`).

        Raises:
            ValueError: on an unknown warehouse name or a threshold that is not a number.
        """
        env = os.environ if env is None else env
        home = Path(env.get(HOME_ENV, "./.closeloop")).expanduser().resolve()
        warehouse = env.get(WAREHOUSE_ENV, "duckdb").strip().lower()
        if warehouse not in ("duckdb", "snowflake"):
            raise ValueError(f"{WAREHOUSE_ENV} must be 'duckdb' or 'snowflake', got {warehouse!r}")
        ca = env.get(CA_BUNDLE_ENV) or None
        publish = env.get(PUBLISH_PATH_ENV)
        if publish is None:
            publish_path: Path | None = home / DEFAULT_PUBLISH_NAME
        elif publish.strip().lower() in ("", "off", "none", "false", "0"):
            publish_path = None
        else:
            publish_path = Path(publish).expanduser().resolve()
        files = dlt_source_values(dlt_dir if dlt_dir is not None else dlt_settings_dir(env))

        def value(system: str, key: str) -> str:
            found = env.get(source_env(system, key))
            if found is None:
                found = files[system].get(key)
            return "" if found is None else str(found)

        def source(name: str) -> SourceSettings:
            token_env = CREDENTIAL_ENV[name]
            token = value(name, CREDENTIAL_KEYS[name])
            url = value(name, BASE_URL_KEY).rstrip("/") or None
            return SourceSettings(name, url, Secret(token), token_env)

        return cls(
            home=home,
            warehouse=warehouse,  # type: ignore[arg-type]
            crm=source("crm"),
            billing=source("billing"),
            erp=source("erp"),
            ca_bundle=Path(ca) if ca else None,
            dbt_target=env.get(DBT_TARGET_ENV) or None,
            max_open_exceptions=_int(env, MAX_OPEN_EXCEPTIONS_ENV, DEFAULT_MAX_OPEN_EXCEPTIONS),
            max_critical_exceptions=_int(
                env, MAX_CRITICAL_EXCEPTIONS_ENV, DEFAULT_MAX_CRITICAL_EXCEPTIONS
            ),
            sync_sla_minutes=_int(env, SYNC_SLA_MINUTES_ENV, DEFAULT_SYNC_SLA_MINUTES),
            snowflake=SnowflakeSettings.from_env(env),
            publish_path=publish_path,
        )

    @property
    def duckdb_path(self) -> Path:
        """The embedded warehouse file."""
        return self.home / "closeloop.duckdb"

    @property
    def sandbox_root(self) -> Path:
        """Where the sandbox keeps its simulated company."""
        return self.home / "sandbox"

    @property
    def dagster_home(self) -> Path:
        """Dagster's instance storage."""
        return self.home / "dagster"

    def sources(self) -> dict[str, SourceSettings]:
        """The three source systems by name."""
        return {"crm": self.crm, "billing": self.billing, "erp": self.erp}

    def home_env(self) -> dict[str, str]:
        """The variable pointing a child process (or dlt, dbt, Dagster) at this home."""
        return {HOME_ENV: str(self.home)}

    def dbt_env(self, target: str | None = None) -> dict[str, str]:
        """The environment dbt's profiles.yml reads: the home, the DuckDB file and the target.

        The target is `target`, else `DBT_TARGET`, else `prod` on Snowflake and `dev` on DuckDB.
        """
        chosen = target or self.dbt_target
        if chosen is None:
            chosen = "prod" if self.warehouse == "snowflake" else "dev"
        return {
            HOME_ENV: str(self.home),
            DUCKDB_PATH_ENV: str(self.duckdb_path),
            DBT_TARGET_ENV: chosen,
        }


def source_env_values(urls: Mapping[str, str], tokens: Mapping[str, str]) -> dict[str, str]:
    """`SOURCES__*` variables pointing dlt (and the settings) at each system's URL and token.

    Args:
        urls: base URL by system.
        tokens: credential by system.
    """
    env: dict[str, str] = {}
    for system, (url_env, token_env) in SOURCE_ENV.items():
        env[url_env] = str(urls[system])
        env[token_env] = str(tokens[system])
    return env
