"""The one settings object: env var names are a public contract."""

from __future__ import annotations

from pathlib import Path

import pytest

from closeloop.settings import SANDBOX_DEFAULT_TOKENS, Settings, disable_telemetry


def test_defaults_point_at_the_embedded_setup(tmp_path: Path) -> None:
    s = Settings.from_env({"CLOSELOOP_HOME": str(tmp_path)})
    assert s.home == tmp_path.resolve()
    assert s.warehouse == "duckdb"
    assert s.duckdb_path == tmp_path.resolve() / "closeloop.duckdb"
    assert not s.crm.configured
    assert s.billing.token == SANDBOX_DEFAULT_TOKENS["billing"]


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
