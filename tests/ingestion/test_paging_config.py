"""Paging past the vendors' page limits, dlt config resolution, and the Snowflake wiring."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from ingestion.pipelines import IngestError, build_pipeline, run_system
from tests.ingestion.support import (
    crm_truth,
    env_for,
    erp_truth,
    patched_env,
    raw_count,
    raw_keys,
    served,
    warehouse,
)


def test_short_salesforce_batches_and_restarted_suiteql_queries_land_everything(
    small_sandbox_home: Path, tmp_path: Path
) -> None:
    shutil.copytree(small_sandbox_home / "sandbox", tmp_path / "sandbox")
    with served(tmp_path) as sandbox:
        env = {
            **env_for(tmp_path, sandbox.urls),
            # 200-record batches: every object of more than 200 rows pages on nextRecordsUrl
            "SOURCES__CRM__BATCH_SIZE": "200",
            # restart the SuiteQL query from its cursor every 2,500 rows, as past 100,000
            "SOURCES__ERP__MAX_ROWS_PER_QUERY": "2500",
        }
        with patched_env(env):
            run_system("crm", resources=["account", "opportunity"])
            run_system("erp", resources=["transaction"])
    crm, erp = crm_truth(tmp_path), erp_truth(tmp_path)
    assert len(crm["account"]) > 400 and len(erp["transaction"]) > 5000
    con = warehouse(tmp_path)
    try:
        for table, truth in (
            ("raw_crm.account", crm["account"]),
            ("raw_crm.opportunity", crm["opportunity"]),
            ("raw_erp.transaction", erp["transaction"]),
        ):
            keys = raw_keys(con, table, "id")
            assert raw_count(con, table) == len(keys) == len(truth), table
            assert keys == truth, table
    finally:
        con.close()


def test_missing_source_settings_name_the_variable(tmp_path: Path) -> None:
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("SOURCES__BILLING__")}
    try:
        with patched_env({"CLOSELOOP_HOME": str(tmp_path)}), pytest.raises(IngestError) as err:
            run_system("billing")
    finally:
        os.environ.update(saved)
    assert "SOURCES__BILLING__BASE_URL" in str(err.value)


def test_snowflake_path_is_wired_without_the_network(tmp_path: Path) -> None:
    env = {
        "CLOSELOOP_HOME": str(tmp_path),
        "CLOSELOOP_WAREHOUSE": "snowflake",
        "DESTINATION__SNOWFLAKE__CREDENTIALS__DATABASE": "ANALYTICS",
        "DESTINATION__SNOWFLAKE__CREDENTIALS__USERNAME": "loader",
        "DESTINATION__SNOWFLAKE__CREDENTIALS__PASSWORD": "not-a-real-password",
        "DESTINATION__SNOWFLAKE__CREDENTIALS__HOST": "acme-xy12345",
        "DESTINATION__SNOWFLAKE__CREDENTIALS__WAREHOUSE": "LOADING",
        "DESTINATION__SNOWFLAKE__CREDENTIALS__ROLE": "LOADER",
    }
    with patched_env(env):
        for system in ("crm", "billing", "erp"):
            pipeline = build_pipeline(system)
            assert pipeline.destination.destination_name == "snowflake"
            assert pipeline.dataset_name == f"raw_{system}"
            client = pipeline.destination_client()  # resolves config; does not connect
            assert client.config.credentials.database == "ANALYTICS"
            assert client.config.credentials.host == "acme-xy12345"
            assert client.sql_client.fully_qualified_dataset_name() == f'"RAW_{system.upper()}"'
    assert not (tmp_path / "closeloop.duckdb").exists()


def test_https_with_the_configured_ca_bundle(small_sandbox_home: Path, tmp_path: Path) -> None:
    shutil.copytree(small_sandbox_home / "sandbox", tmp_path / "sandbox")
    with served(tmp_path, tls=True) as sandbox:
        assert all(url.startswith("https://") for url in sandbox.urls.values())
        env = {**env_for(tmp_path, sandbox.urls), "CLOSELOOP_CA_BUNDLE": str(sandbox.ca_path)}
        with patched_env(env):
            run_system("crm", resources=["product2"])
            run_system("billing", resources=["products"])
            run_system("erp", resources=["currency"])
    con = warehouse(tmp_path)
    try:
        assert raw_count(con, "raw_crm.product2") == 5
        assert raw_count(con, "raw_billing.products") == 5
        assert raw_count(con, "raw_erp.currency") == 4
    finally:
        con.close()
