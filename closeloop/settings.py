"""The one settings object: every layer (CLI, dlt, dbt, Dagster, sandbox) reads its choices here.

Values come from environment variables (the names are a public contract, see DESIGN.md) with
sensible defaults for the embedded setup. dlt itself also reads the `SOURCES__*` variables and
`.dlt/secrets.toml`; this object is how closeloop's own code sees the same values.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

Warehouse = Literal["duckdb", "snowflake"]

#: Tokens the sandbox accepts when nothing else is configured (never valid at a real vendor).
SANDBOX_DEFAULT_TOKENS = {
    "crm": "sandbox-crm-token",
    "billing": "sk_test_sandbox",
    "erp": "sandbox-erp-token",
}

#: Default loopback ports of the sandbox APIs.
SANDBOX_DEFAULT_PORTS = {"crm": 8701, "billing": 8702, "erp": 8703}

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


class Secret(str):
    """A string that never shows itself in repr, logs or tracebacks."""

    def __repr__(self) -> str:
        return "Secret('****')"


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


@dataclass(frozen=True)
class Settings:
    """closeloop's configuration, read once from the environment."""

    home: Path
    warehouse: Warehouse
    crm: SourceSettings
    billing: SourceSettings
    erp: SourceSettings
    ca_bundle: Path | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read the settings from environment variables.

        Args:
            env: a mapping to read instead of `os.environ` (tests).

        Raises:
            ValueError: on an unknown warehouse name.
        """
        env = os.environ if env is None else env
        home = Path(env.get("CLOSELOOP_HOME", "./.closeloop")).expanduser().resolve()
        warehouse = env.get("CLOSELOOP_WAREHOUSE", "duckdb").strip().lower()
        if warehouse not in ("duckdb", "snowflake"):
            raise ValueError(
                f"CLOSELOOP_WAREHOUSE must be 'duckdb' or 'snowflake', got {warehouse!r}"
            )
        ca = env.get("CLOSELOOP_CA_BUNDLE") or None

        def source(name: str, url_env: str, token_env: str) -> SourceSettings:
            token = env.get(token_env) or SANDBOX_DEFAULT_TOKENS[name]
            url = (env.get(url_env) or "").rstrip("/") or None
            return SourceSettings(name, url, Secret(token), token_env)

        return cls(
            home=home,
            warehouse=warehouse,  # type: ignore[arg-type]
            crm=source("crm", "SOURCES__CRM__BASE_URL", "SOURCES__CRM__ACCESS_TOKEN"),
            billing=source("billing", "SOURCES__BILLING__BASE_URL", "SOURCES__BILLING__API_KEY"),
            erp=source("erp", "SOURCES__ERP__BASE_URL", "SOURCES__ERP__ACCESS_TOKEN"),
            ca_bundle=Path(ca) if ca else None,
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
