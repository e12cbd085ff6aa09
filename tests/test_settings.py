"""The one settings object: env var names are a public contract."""

from __future__ import annotations

from pathlib import Path

import pytest

from closeloop.settings import (
    CREDENTIAL_KEYS,
    SOURCE_ENV,
    Settings,
    disable_telemetry,
    sandbox_faults,
    source_env_values,
)
from sandbox.defaults import SANDBOX_DEFAULT_TOKENS


def test_defaults_point_at_the_embedded_setup(tmp_path: Path) -> None:
    s = Settings.from_env({"CLOSELOOP_HOME": str(tmp_path)})
    assert s.home == tmp_path.resolve()
    assert s.warehouse == "duckdb"
    assert s.duckdb_path == tmp_path.resolve() / "closeloop.duckdb"
    assert not s.crm.configured
    # no sandbox token leaks into production settings: an unset credential is empty
    assert s.billing.token == "" and s.erp.token == ""


def test_contract_env_var_names_are_read(tmp_path: Path) -> None:
    env = {
        "CLOSELOOP_HOME": str(tmp_path),
        "CLOSELOOP_WAREHOUSE": "Snowflake",
        "SOURCES__CRM__BASE_URL": "https://acme.my.salesforce.com/",
        "SOURCES__CRM__ACCESS_TOKEN": "00Dxx!secret",
        "SOURCES__BILLING__BASE_URL": "https://api.stripe.com",
        "SOURCES__BILLING__API_KEY": "sk_live_secret",
        "SOURCES__ERP__BASE_URL": "https://123.suitetalk.api.netsuite.com",
        "SOURCES__ERP__ACCESS_TOKEN": "erp-secret",
    }
    s = Settings.from_env(env)
    assert s.warehouse == "snowflake"
    assert s.crm.base_url == "https://acme.my.salesforce.com"
    assert s.crm.token == "00Dxx!secret"
    assert s.billing.token == "sk_live_secret"
    assert s.erp.base_url == "https://123.suitetalk.api.netsuite.com"
    # secrets never show in a repr (logs, tracebacks)
    for secret in ("00Dxx!secret", "sk_live_secret", "erp-secret"):
        assert secret not in repr(s)


def test_unknown_warehouse_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="CLOSELOOP_WAREHOUSE"):
        Settings.from_env({"CLOSELOOP_WAREHOUSE": "postgres"})


def test_telemetry_switches_respect_explicit_values() -> None:
    env = {"DO_NOT_TRACK": "0"}
    disable_telemetry(env)
    assert env["DO_NOT_TRACK"] == "0"
    assert env["DBT_SEND_ANONYMOUS_USAGE_STATS"] == "false"
    assert env["RUNTIME__DLTHUB_TELEMETRY"] == "false"
    assert env["DAGSTER_DISABLE_TELEMETRY"] == "1"


SECRETS_TOML = """
[sources.crm]
base_url = "https://acme.my.salesforce.com/"
access_token = "00Dxx!from-toml"

[sources.billing]
api_key = "sk_live_from_toml"

[sources.erp]
base_url = "https://123.suitetalk.api.netsuite.com"
access_token = "erp-from-toml"
"""

CONFIG_TOML = """
[sources.billing]
base_url = "https://api.stripe.com"
api_key = "config-loses-to-secrets"
"""


def _dlt_sees(dot_dlt: Path, system: str, key: str) -> object:
    """The value dlt's own TOML providers resolve for `sources.<system>.<key>` (secrets first)."""
    from dlt.common.configuration.providers import ConfigTomlProvider, SecretsTomlProvider

    for provider in (SecretsTomlProvider(str(dot_dlt)), ConfigTomlProvider(str(dot_dlt))):
        value, _ = provider.get_value(key, str, None, "sources", system)
        if value is not None:
            return value
    return None


def test_dlt_files_are_read_as_dlt_reads_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dot_dlt = tmp_path / ".dlt"
    dot_dlt.mkdir()
    (dot_dlt / "secrets.toml").write_text(SECRETS_TOML)
    (dot_dlt / "config.toml").write_text(CONFIG_TOML)
    monkeypatch.chdir(tmp_path)
    s = Settings.from_env({"CLOSELOOP_HOME": str(tmp_path / "home")})
    for system, src in s.sources().items():
        url = _dlt_sees(dot_dlt, system, "base_url")
        assert src.base_url == str(url).rstrip("/")
        assert src.token == _dlt_sees(dot_dlt, system, CREDENTIAL_KEYS[system])
    assert s.billing.token == "sk_live_from_toml"  # secrets.toml over config.toml, as in dlt
    assert s.billing.base_url == "https://api.stripe.com"  # config.toml when secrets has none
    for secret in ("00Dxx!from-toml", "sk_live_from_toml", "erp-from-toml"):
        assert secret not in repr(s)


def test_env_vars_win_over_dlt_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".dlt").mkdir()
    (tmp_path / ".dlt" / "secrets.toml").write_text(SECRETS_TOML)
    monkeypatch.chdir(tmp_path)
    env = {
        "CLOSELOOP_HOME": str(tmp_path),
        "SOURCES__CRM__ACCESS_TOKEN": "00Dxx!from-env",
        "SOURCES__ERP__BASE_URL": "https://456.suitetalk.api.netsuite.com",
    }
    s = Settings.from_env(env)
    assert s.crm.token == "00Dxx!from-env"
    assert s.crm.base_url == "https://acme.my.salesforce.com"
    assert s.erp.base_url == "https://456.suitetalk.api.netsuite.com"
    assert s.erp.token == "erp-from-toml"
    # without the files, nothing leaks in: the embedded defaults
    monkeypatch.chdir(tmp_path / ".dlt")
    assert not Settings.from_env(env).crm.base_url
    assert Settings.from_env(env).billing.token == ""


def test_env_var_names_come_from_the_settings() -> None:
    assert SOURCE_ENV == {
        "crm": ("SOURCES__CRM__BASE_URL", "SOURCES__CRM__ACCESS_TOKEN"),
        "billing": ("SOURCES__BILLING__BASE_URL", "SOURCES__BILLING__API_KEY"),
        "erp": ("SOURCES__ERP__BASE_URL", "SOURCES__ERP__ACCESS_TOKEN"),
    }
    urls = {"crm": "u1", "billing": "u2", "erp": "u3"}
    assert source_env_values(urls, SANDBOX_DEFAULT_TOKENS) == {
        "SOURCES__CRM__BASE_URL": "u1",
        "SOURCES__CRM__ACCESS_TOKEN": SANDBOX_DEFAULT_TOKENS["crm"],
        "SOURCES__BILLING__BASE_URL": "u2",
        "SOURCES__BILLING__API_KEY": SANDBOX_DEFAULT_TOKENS["billing"],
        "SOURCES__ERP__BASE_URL": "u3",
        "SOURCES__ERP__ACCESS_TOKEN": SANDBOX_DEFAULT_TOKENS["erp"],
    }


def test_check_thresholds_and_dbt_target(tmp_path: Path) -> None:
    s = Settings.from_env({"CLOSELOOP_HOME": str(tmp_path)})
    assert (s.max_open_exceptions, s.max_critical_exceptions, s.sync_sla_minutes) == (1000, 0, 1440)
    assert s.dbt_env()["DBT_TARGET"] == "dev"
    s = Settings.from_env(
        {
            "CLOSELOOP_HOME": str(tmp_path),
            "CLOSELOOP_WAREHOUSE": "snowflake",
            "CLOSELOOP_MAX_OPEN_EXCEPTIONS": "5",
            "CLOSELOOP_MAX_CRITICAL_EXCEPTIONS": "2",
            "CLOSELOOP_SYNC_SLA_MINUTES": "60",
        }
    )
    assert (s.max_open_exceptions, s.max_critical_exceptions, s.sync_sla_minutes) == (5, 2, 60)
    assert s.dbt_env() == {
        "CLOSELOOP_HOME": str(tmp_path.resolve()),
        "CLOSELOOP_DUCKDB_PATH": str(tmp_path.resolve() / "closeloop.duckdb"),
        "DBT_TARGET": "prod",
    }
    assert s.dbt_env("ci_snowflake")["DBT_TARGET"] == "ci_snowflake"
    dev = Settings.from_env({"CLOSELOOP_HOME": str(tmp_path), "DBT_TARGET": "prod"})
    assert dev.dbt_env()["DBT_TARGET"] == "prod"
    with pytest.raises(ValueError, match="CLOSELOOP_SYNC_SLA_MINUTES"):
        Settings.from_env({"CLOSELOOP_SYNC_SLA_MINUTES": "a day"})


def test_sandbox_faults_per_system_over_option_over_shared() -> None:
    env = {"CLOSELOOP_SANDBOX_FAULTS": "rate=0.1", "CLOSELOOP_SANDBOX_FAULTS_ERP": "rate=0.5"}
    assert sandbox_faults("crm", "", env) == "rate=0.1"
    assert sandbox_faults("crm", "rate=0.2", env) == "rate=0.2"
    assert sandbox_faults("erp", "rate=0.2", env) == "rate=0.5"
    assert sandbox_faults("billing", "", {}) == ""


def test_production_layers_never_import_the_sandbox() -> None:
    """Orchestration, ingestion, reverse ETL and the settings point only at configured sources."""
    root = Path(__file__).resolve().parent.parent
    offenders = []
    for package in ("orchestration", "ingestion", "reverse_etl"):
        for path in sorted((root / package).rglob("*.py")):
            offenders += [f"{path.relative_to(root)}: {m}" for m in _sandbox_imports(path)]
    offenders += [
        f"closeloop/settings.py: {m}" for m in _sandbox_imports(root / "closeloop/settings.py")
    ]
    assert offenders == []


def _sandbox_imports(path: Path) -> list[str]:
    import ast

    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "sandbox":
            found.append(node.module or "")
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] == "sandbox"]
    return found


def test_write_back_without_an_erp_url_is_a_clear_error(tmp_path: Path) -> None:
    from reverse_etl.policy import load_policy
    from reverse_etl.runner import make_client

    settings = Settings.from_env({"CLOSELOOP_HOME": str(tmp_path)})
    with pytest.raises(ValueError, match="SOURCES__ERP__BASE_URL"):
        make_client(settings, load_policy())


def test_the_demo_serves_the_sandbox_with_its_tokens_unless_others_are_set(tmp_path: Path) -> None:
    from closeloop.demo import sandbox_tokens

    plain = Settings.from_env({"CLOSELOOP_HOME": str(tmp_path)})
    assert sandbox_tokens(plain) == SANDBOX_DEFAULT_TOKENS
    own = Settings.from_env({"CLOSELOOP_HOME": str(tmp_path), "SOURCES__ERP__ACCESS_TOKEN": "mine"})
    assert sandbox_tokens(own)["erp"] == "mine"
    assert sandbox_tokens(own)["crm"] == SANDBOX_DEFAULT_TOKENS["crm"]
