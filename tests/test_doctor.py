"""`closeloop doctor` against real landings: each sandbox profile served over HTTP and landed
by dlt in DuckDB, and copies of the classic landing changed in DuckDB the way another company's
data would differ."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml  # type: ignore[import-untyped]
from rich.console import Console
from typer.testing import CliRunner

from closeloop.cli import app
from closeloop.doctor import Landing, diagnose, reason_kind, render
from closeloop.settings import Settings
from ingestion.pipelines import run_ingest
from sandbox.generator import generate
from sandbox.generator.profile import profile_names
from sandbox.schema import SandboxPaths
from tests.ingestion.support import env_for, patched_env, served
from transform import run_dbt

PROFILES = ("classic", "northwind", "meridian")
#: The convention vars as the contract ships them (the tests pin them: dbt_project.yml may
#: refine its own defaults without changing what these tests mean).
AUTO = {
    "customer_account_types": [],
    "billing_customer_crm_link": None,
    "billing_subscription_crm_link": None,
    "product_code_metadata_key": "product_code",
    "erp_invoice_reference_fields": ["externalid", "otherrefnum", "memo"],
    "erp_payment_reference": "auto",
    "reporting_currency": "USD",
}


def _land(home: Path, profile: str) -> Path:
    generate(SandboxPaths.under(home), seed=42, scale="small", profile=profile)
    with served(home) as sandbox, patched_env(env_for(home, sandbox.urls)):
        run_ingest()
    return home


@pytest.fixture(scope="module")
def landed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """Each profile generated at `small`, served and landed once (homes read-only for tests)."""
    homes = {p: _land(tmp_path_factory.mktemp(f"doctor-{p}"), p) for p in PROFILES}
    yield homes
    for home in homes.values():
        shutil.rmtree(home, ignore_errors=True)


def _db(home: Path) -> Path:
    return Settings.from_env({"CLOSELOOP_HOME": str(home)}).duckdb_path


def _report(db: Path, **defaults: Any) -> dict[str, Any]:
    landing = Landing.open(db)
    try:
        return diagnose(landing, defaults={**AUTO, **defaults})
    finally:
        landing.close()


@pytest.fixture()
def classic_copy(landed: dict[str, Path], tmp_path: Path) -> Path:
    """A private copy of the classic landing's warehouse file, to change."""
    db = tmp_path / "closeloop.duckdb"
    shutil.copy(_db(landed["classic"]), db)
    return db


def _sql(db: Path, *statements: str) -> None:
    con = duckdb.connect(str(db))
    try:
        for statement in statements:
            con.execute(statement)
    finally:
        con.close()


def _scalar(db: Path, sql: str) -> Any:
    try:
        con = duckdb.connect(str(db), read_only=True)
    except duckdb.ConnectionException:  # dbt-duckdb holds the file open in this process
        con = duckdb.connect(str(db))
    try:
        row = con.execute(sql).fetchone()
        assert row is not None
        return row[0]
    finally:
        con.close()


# --- every profile: what doctor detects is what the profile says -----------------------------


def test_the_shipped_profiles_are_the_ones_tested() -> None:
    assert set(PROFILES) <= set(profile_names())


@pytest.mark.slow
@pytest.mark.parametrize("name", PROFILES)
def test_detected_conventions_equal_the_profile(landed: dict[str, Path], name: str) -> None:
    home = landed[name]
    profile = json.loads(SandboxPaths.under(home).profile.read_text())
    crm, billing, erp = profile["crm"], profile["billing"], profile["erp"]
    detected = _report(_db(home))["detected"]

    assert detected["crm.customer_types"] == sorted(crm["customer_types"])
    assert detected["billing.customer_link_key"] == billing["customer_link_key"]
    assert detected["billing.subscription_link_key"] == billing["subscription_link_key"]
    assert detected["billing.product_code_key"] == billing["product_code_key"]
    assert detected["erp.item_externalid"] == erp["item_externalid"]
    assert detected["erp.rate_cadence"] == erp["rate_cadence"]
    assert detected["erp.invoice_reference_field"] == erp["invoice_reference_field"]
    assert detected["erp.invoice_reference_value"] == erp["invoice_reference_value"]
    assert detected["erp.payment_key"] == erp["payment_key"]
    assert detected["erp.deleted_records_permission"] == erp["deleted_records_permission"]
    amendments = profile["opportunities"]["amendment_amount"]
    assert detected["opportunities.amendment_amount"] == amendments
    # a field the company never sets is seen as unused (others may be unused by chance)
    assert set(billing["unused_optional_fields"]) <= set(detected["billing.unused_optional_fields"])


@pytest.mark.slow
@pytest.mark.parametrize("name", PROFILES)
def test_every_link_is_found_and_the_suggestions_follow_the_profile(
    landed: dict[str, Path], name: str
) -> None:
    home = landed[name]
    profile = json.loads(SandboxPaths.under(home).profile.read_text())
    report = _report(_db(home))
    coverage = {c["pair"]: c for c in report["coverage"]}
    # the sandbox ties every record of these pairs; its injected faults are elsewhere
    for pair in (
        "billing customer -> CRM account",
        "ERP customer -> CRM account",
        "ERP invoice -> billing invoice",
        "ERP payment -> billing charge / payment intent",
        "billing product -> ERP item",
    ):
        assert coverage[pair]["matched"] == coverage[pair]["records"] > 0, pair
    key = profile["billing"]["customer_link_key"]
    methods = coverage["billing customer -> CRM account"]["methods"]
    assert max(methods, key=methods.__getitem__) == f"id:metadata__{key}"
    # duplicates (no externalid) are tied by the reference the profile's integration writes
    ref = f"{profile['erp']['invoice_reference_field']}_{profile['erp']['invoice_reference_value']}"
    refs = report["conventions"]["invoice_references"]
    assert refs["without_externalid"] > 0
    assert coverage["ERP invoice -> billing invoice"]["methods"][ref] == refs["without_externalid"]
    assert report["unmapped_products"]["count"] == 0
    assert report["currencies_without_rates"]["currencies"] == []

    suggested = report["suggestions"]["dbt_vars"]
    code_key = profile["billing"]["product_code_key"]
    if code_key and code_key != AUTO["product_code_metadata_key"]:
        assert suggested == {"product_code_metadata_key": code_key}
        assert yaml.safe_load(report["suggestions"]["yaml"]) == {"vars": suggested}
    else:
        # one link column each, codes under the default key or none: auto needs nothing
        assert suggested == {}
        assert report["suggestions"]["yaml"] == ""


@pytest.mark.slow
def test_a_denied_deletedrecord_says_deletions_come_from_the_key_sweep(
    landed: dict[str, Path],
) -> None:
    report = _report(_db(landed["meridian"]))
    deleted = report["conventions"]["deleted_records"]
    assert deleted["landed"] is False
    assert deleted["key_sweep_last"]
    assert "deletions come from the key sweep" in deleted["note"]
    assert any("key sweep" in n for n in report["suggestions"]["notes"])


@pytest.mark.slow
def test_monthly_rates_are_applied_as_of_an_earlier_day(landed: dict[str, Path]) -> None:
    db = _db(landed["northwind"])
    fx = _report(db)["conventions"]["fx_rates"]
    assert fx["cadence"] == "monthly"
    assert fx["on_the_first_of_month"] == fx["effective_dates"]
    # every non-USD ERP document dated after the 1st needs the as-of rule
    expected = _scalar(
        db,
        "select count(*) from raw_erp.transaction t join raw_erp.currency c on t.currency = c.id "
        "where c.symbol <> 'USD' and day(t.trandate) <> 1",
    )
    assert fx["documents_rated_as_of_an_earlier_day"] >= expected > 0


# --- the classic landing changed as another company's would be -------------------------------


@pytest.mark.slow
def test_link_keys_follow_the_data_not_the_sandbox_names(classic_copy: Path) -> None:
    _sql(
        classic_copy,
        "alter table raw_billing.customers rename column metadata__crm_account_id "
        "to metadata__sf_acct",
    )
    report = _report(classic_copy)
    assert report["detected"]["billing.customer_link_key"] == "sf_acct"
    assert report["conventions"]["customer_rule"]["customer_types"] == ["Customer"]
    # auto finds the one column; a default naming the old column is told to change
    assert "billing_customer_crm_link" not in report["suggestions"]["dbt_vars"]
    pinned = _report(classic_copy, billing_customer_crm_link="metadata__crm_account_id")
    assert pinned["suggestions"]["dbt_vars"]["billing_customer_crm_link"] == "metadata__sf_acct"
    assert "billing_customer_crm_link: metadata__sf_acct" in pinned["suggestions"]["yaml"]

    # a second column holding the same ids: auto (per record, the first landed id) is fine
    _sql(
        classic_copy,
        "alter table raw_billing.customers add column metadata__old_sf varchar",
        "update raw_billing.customers set metadata__old_sf = metadata__sf_acct "
        "where id in (select id from raw_billing.customers order by id limit 10)",
    )
    agreeing = _report(classic_copy)
    assert agreeing["conventions"]["link_columns"]["billing_customer_crm_link_conflicts"] == 0
    assert "billing_customer_crm_link" not in agreeing["suggestions"]["dbt_vars"]
    # ... holding other accounts' ids (stale links) on 10 customers: the best one is pinned
    _sql(
        classic_copy,
        "update raw_billing.customers as c set metadata__old_sf = o.id from ("
        "select id, lead(id) over (order by id) as next_id from raw_crm.account) as o "
        "where c.metadata__old_sf = o.next_id",
    )
    ambiguous = _report(classic_copy)
    assert ambiguous["conventions"]["link_columns"]["billing_customer_crm_link_conflicts"] == 10
    assert ambiguous["suggestions"]["dbt_vars"]["billing_customer_crm_link"] == "metadata__sf_acct"


@pytest.mark.slow
def test_rates_only_on_the_first_and_a_currency_without_rates(classic_copy: Path) -> None:
    _sql(
        classic_copy,
        "delete from raw_erp.currencyrate where day(effectivedate) <> 1",
        # JPY has no rate against USD before 2025-06-01
        "delete from raw_erp.currencyrate where effectivedate < date '2025-06-01' and "
        "transactioncurrency = (select id from raw_erp.currency where symbol = 'JPY')",
    )
    report = _report(classic_copy)
    fx = report["conventions"]["fx_rates"]
    assert fx["cadence"] == "monthly"
    assert fx["per_currency"] == {"EUR": "monthly", "GBP": "monthly", "JPY": "monthly"}
    assert report["currencies_without_rates"]["currencies"] == ["JPY"]
    erp_expected = _scalar(
        classic_copy,
        "select count(*) from raw_erp.transaction t join raw_erp.currency c on t.currency = c.id "
        "where c.symbol = 'JPY' and t.trandate < date '2025-06-01'",
    )
    billing_expected = _scalar(
        classic_copy,
        "select count(*) from raw_billing.invoices where currency = 'jpy' and cast(to_timestamp("
        "coalesce(status_transitions__finalized_at, created)) as date) < date '2025-06-01'",
    )
    rows = {d["source"]: d for d in report["currencies_without_rates"]["documents"]}
    assert sum(d["without_rate"] for s, d in rows.items() if s.startswith("erp ")) == erp_expected
    assert rows["billing invoice"]["without_rate"] == billing_expected > 0
    assert all(d["currency"] == "JPY" for d in rows.values())
    assert any("JPY" in n for n in report["suggestions"]["notes"])


@pytest.mark.slow
def test_products_map_by_externalid_then_name_and_the_rest_are_listed(classic_copy: Path) -> None:
    _sql(
        classic_copy,
        "alter table raw_billing.products drop column metadata__product_code",
        # two items lose their external id; one product is renamed so nothing names it
        "update raw_erp.item set externalid = null where itemid in ('API-USAGE', 'PLAT-SEAT')",
        "update raw_billing.products set name = 'Usage Bundle 2027' "
        "where id = (select externalid from raw_erp.item where itemid = 'ADDON-ANALYTICS')",
        "update raw_erp.item set externalid = null where itemid = 'ADDON-ANALYTICS'",
    )
    report = _report(classic_copy)
    mapping = report["conventions"]["product_mapping"]
    assert mapping["methods"] == {"erp_external_id": 2, "name": 2}
    assert report["unmapped_products"]["count"] == 1
    assert report["unmapped_products"]["items"][0]["name"] == "Usage Bundle 2027"
    assert report["detected"]["billing.product_code_key"] == ""
    coverage = {c["pair"]: c for c in report["coverage"]}["billing product -> ERP item"]
    assert (coverage["records"], coverage["matched"], coverage["matched_pct"]) == (5, 4, 80.0)


@pytest.mark.slow
def test_invoice_references_by_number_in_the_memo_and_payment_intents(classic_copy: Path) -> None:
    _sql(
        classic_copy,
        # the legacy integration writes the number in the memo; otherrefnum stays empty
        "update raw_erp.transaction set otherrefnum = null where type = 'CustInvc'",
        "update raw_erp.transaction set externalid = null where type = 'CustInvc' "
        "and id in (select id from raw_erp.transaction where type = 'CustInvc' "
        "order by id limit 25)",
        # payments keyed by the payment intent of their charge
        "update raw_erp.transaction as t set externalid = c.payment_intent "
        "from raw_billing.charges as c where t.externalid = c.id and t.type = 'CustPymt'",
    )
    report = _report(classic_copy)
    refs = report["conventions"]["invoice_references"]
    assert (refs["reference_field"], refs["reference_value"]) == ("memo", "number")
    dupes = _scalar(
        classic_copy,
        "select count(*) from raw_erp.transaction where type = 'CustInvc' and externalid is null",
    )
    assert refs["without_externalid"] == dupes
    pay = report["conventions"]["payment_keys"]
    assert pay["payment_key"] == "payment_intent"
    assert pay["by_prefix"]["pi_"]["payment_intents_found"] == pay["by_prefix"]["pi_"]["payments"]
    coverage = {c["pair"]: c for c in report["coverage"]}
    assert coverage["ERP invoice -> billing invoice"]["methods"]["memo_number"] == dupes
    # memo is a default reference field: nothing to set
    assert "erp_invoice_reference_fields" not in report["suggestions"]["dbt_vars"]

    # a reference only in tranid is outside the defaults: doctor suggests adding it
    _sql(
        classic_copy,
        "update raw_erp.transaction as t set tranid = i.number, memo = null "
        "from raw_billing.invoices as i where t.type = 'CustInvc' and t.externalid = i.id",
    )
    fields = _report(classic_copy)["suggestions"]["dbt_vars"]["erp_invoice_reference_fields"]
    assert fields == ["externalid", "otherrefnum", "memo", "tranid"]


@pytest.mark.slow
def test_stale_customer_types_are_mixed_and_an_extra_type_is_optional(classic_copy: Path) -> None:
    _sql(
        classic_copy,
        # ten real customers left at 'Prospect'; five new 'Customer' accounts with no contract,
        # subscription or invoice yet
        "update raw_crm.account set type = 'Prospect' where id in (select distinct account_id "
        "from raw_crm.contract where status = 'Activated' order by 1 limit 10)",
        "insert into raw_crm.account (id, name, type, is_deleted) select "
        "'001NEW00000000' || n || 'AAA', 'New Customer ' || n, 'Customer', false "
        "from range(5) as r(n)",
    )
    report = _report(classic_copy)
    rule = report["conventions"]["customer_rule"]
    types = {x["account_type"]: x for x in rule["types"]}
    assert types["Prospect"]["customers_by_behaviour"] == 10
    assert rule["customer_types"] == ["Customer"]
    assert rule["mixed_types"] == ["Prospect"]
    customers_without = types["Customer"]["accounts"] - types["Customer"]["customers_by_behaviour"]
    assert customers_without == rule["customer_type_accounts_without_behaviour"] == 5
    suggestions = report["suggestions"]
    assert suggestions["optional_dbt_vars"] == {"customer_account_types": ["Customer"]}
    assert "# customer_account_types: [Customer]" in suggestions["yaml"]
    uncommented = suggestions["yaml"].replace("# customer_account_types", "customer_account_types")
    assert yaml.safe_load(uncommented) == {"vars": {"customer_account_types": ["Customer"]}}


@pytest.mark.slow
@pytest.mark.parametrize("kept", ["raw_crm", "raw_billing", "raw_erp"])
def test_a_partial_landing_is_reported_not_a_stack_trace(classic_copy: Path, kept: str) -> None:
    _sql(
        classic_copy,
        *(f"drop schema {s} cascade" for s in ("raw_crm", "raw_billing", "raw_erp") if s != kept),
    )
    report = _report(classic_copy)
    assert list(report["landing"]) == [kept]
    detected = report["detected"]
    if kept != "raw_billing":
        assert detected["billing.unused_optional_fields"] == []
        assert detected["billing.customer_link_key"] is None
    if kept != "raw_erp":
        assert detected["erp.item_externalid"] is None
        assert detected["erp.rate_cadence"] is None
    else:
        assert detected["erp.rate_cadence"] == "daily"
    console = Console(record=True, width=120)
    render(report, console)
    assert "suggested settings" in console.export_text()


# --- the dbt models, when built --------------------------------------------------------------


@pytest.mark.slow
def test_dq_issues_and_match_methods_are_counted(classic_copy: Path) -> None:
    _sql(
        classic_copy,
        "create schema if not exists ops",
        "create or replace table ops.dq_issues (issue_id varchar, issue_type varchar, "
        "source_system varchar, source_model varchar, record_id varchar, reason varchar, "
        "currency_code varchar, amount decimal(38, 2), detected_at timestamp)",
        "insert into ops.dq_issues values "
        "('a', 'fx_rate_missing', 'billing', 'fct_invoice', 'in_1', 'no JPY rate', 'JPY', 1, "
        "now()), ('b', 'fx_rate_missing', 'billing', 'fct_invoice', 'in_2', 'no JPY rate', "
        "'JPY', 2, now()), ('c', 'product_unmapped', 'billing', 'dim_product', 'prod_1', "
        "'no item', null, null, now())",
        "create schema if not exists core",
        "create or replace table core.product_xref as select * from (values "
        "('p1', 'metadata_code'), ('p2', 'item_externalid'), ('p3', 'item_externalid')) "
        "as v(product_id, erp_match_method)",
    )
    models = _report(classic_copy)["models"]
    assert models["dq_issues"]["issues"] == 3
    assert models["dq_issues"]["by_type"] == {"fx_rate_missing": 2, "product_unmapped": 1}
    assert models["dq_issues"]["by_source_model"] == [
        {"issue_type": "fx_rate_missing", "source_model": "fct_invoice", "count": 2},
        {"issue_type": "product_unmapped", "source_model": "dim_product", "count": 1},
    ]
    assert models["dq_issues"]["by_reason"][0] == {
        "issue_type": "fx_rate_missing",
        "reason": "no JPY rate",
        "count": 2,
    }
    assert models["match_methods"]["core.product_xref"]["erp_match_method"] == {
        "item_externalid": 2,
        "metadata_code": 1,
    }


def test_reasons_that_differ_by_dates_and_numbers_count_together() -> None:
    assert reason_kind(
        "no JPY rate effective on or before 2025-05-01 (the first is effective 2025-06-08): "
        "amount is kept without USD"
    ) == (
        "no JPY rate effective on or before <date> (the first is effective <date>): "
        "amount is kept without USD"
    )
    assert reason_kind("12 amounts of JPY in the month of 2025-01-01 have no USD rate") == (
        "<n> amounts of JPY in the month of <date> have no USD rate"
    )
    assert reason_kind("metadata__crm_account_id names 0015g000000000iAAA") == (
        "metadata__crm_account_id names 0015g000000000iAAA"
    )


@pytest.mark.slow
def test_a_real_build_adds_its_link_methods_and_dq_issues(classic_copy: Path) -> None:
    home = classic_copy.parent
    _sql(
        classic_copy,
        "delete from raw_erp.currencyrate where effectivedate < date '2025-06-01' and "
        "transactioncurrency = (select id from raw_erp.currency where symbol = 'JPY')",
    )
    before = _report(classic_copy)["models"]
    assert before == {"built": False, "match_methods": {}, "dq_issues": {"built": False}}
    settings = Settings.from_env({"CLOSELOOP_HOME": str(home)})
    outcome = run_dbt(["build"], settings, target="dev", target_path=home / "dbt-target")
    assert outcome.success, outcome.failures
    models = _report(classic_copy)["models"]
    assert models["built"]
    xref = models["match_methods"]["core.customer_xref"]
    assert sum(xref["billing_match_method"].values()) == _scalar(
        classic_copy, "select count(*) from core.customer_xref"
    )
    dq = models["dq_issues"]
    assert dq["built"]
    assert dq["by_type"]["fx_rate_missing"] == _scalar(
        classic_copy, "select count(*) from ops.dq_issues where issue_type = 'fx_rate_missing'"
    )
    assert dq["issues"] == sum(r["count"] for r in dq["by_reason_kind"])
    assert all(
        "JPY" in r["reason"] for r in dq["by_reason_kind"] if r["issue_type"].startswith("fx")
    )


# --- the command --------------------------------------------------------------------------------


@pytest.mark.slow
def test_cli_reports_as_json_and_as_tables(landed: dict[str, Path]) -> None:
    runner = CliRunner()
    env = {"CLOSELOOP_HOME": str(landed["northwind"]), "CLOSELOOP_WAREHOUSE": "duckdb"}
    result = runner.invoke(app, ["doctor", "--json"], env=env)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["detected"]["billing.customer_link_key"] == "sfdc_account_id"
    tables = runner.invoke(app, ["doctor"], env=env)
    assert tables.exit_code == 0, tables.output
    for heading in ("Conventions detected", "Link coverage", "suggested settings"):
        assert heading in tables.stdout
    assert "sfdc_account_id" in tables.stdout


def test_cli_without_a_landing_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["doctor"], env={"CLOSELOOP_HOME": str(tmp_path)})
    assert result.exit_code == 2
    assert "closeloop ingest all" in " ".join(result.output.split())
    # a warehouse file with no raw tables is no landing either
    duckdb.connect(str(tmp_path / "closeloop.duckdb")).close()
    result = CliRunner().invoke(app, ["doctor", "--json"], env={"CLOSELOOP_HOME": str(tmp_path)})
    assert result.exit_code == 2
    assert "no landing" in " ".join(result.output.split())


def test_cli_on_a_warehouse_another_process_writes_exits_2(tmp_path: Path) -> None:
    db = tmp_path / "closeloop.duckdb"
    duckdb.connect(str(db)).close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys; con = duckdb.connect(sys.argv[1]); print('ready', flush=True); "
            "sys.stdin.read()",
            str(db),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
        result = CliRunner().invoke(app, ["doctor"], env={"CLOSELOOP_HOME": str(tmp_path)})
        assert result.exit_code == 2
        assert "is busy" in " ".join(result.output.split())
    finally:
        holder.communicate(input="", timeout=30)


@pytest.mark.slow
def test_report_renders_and_prints_no_secret(landed: dict[str, Path]) -> None:
    console = Console(record=True, width=160)
    render(_report(_db(landed["meridian"])), console)
    text = console.export_text()
    assert "deletions come from the key sweep" in text
    assert "product_code_metadata_key: sku" in text
    for token in ("sandbox-crm-token", "sk_test_sandbox", "sandbox-erp-token"):
        assert token not in text


#: The windows the tests pin (dbt_project.yml may change its own without changing these tests).
WINDOWS = {
    "invoice_missing_in_erp": 24.0,
    "invoice_status_mismatch": 24.0,
    "payment_missing_in_erp": 24.0,
    "refund_missing_in_erp": 24.0,
    "credit_note_missing_in_erp": 24.0,
    "invoice_duplicate_in_erp": 0.0,
}


@pytest.mark.parametrize("name", PROFILES)
def test_settlement_windows_are_measured_from_the_postings(
    landed: dict[str, Path], name: str
) -> None:
    db = _db(landed[name])
    landing = Landing.open(db)
    try:
        report = diagnose(landing, defaults=AUTO, windows=WINDOWS)
    finally:
        landing.close()
    windows = report["settlement_windows"]
    assert windows["available"]
    invoices = _scalar(
        db,
        "select count(distinct i.id) from raw_billing.invoices as i join raw_erp.transaction as t "
        "on t.type = 'CustInvc' and i.id in (t.externalid, t.otherrefnum)",
    )
    for kind in ("invoice_missing_in_erp", "payment_missing_in_erp", "refund_missing_in_erp"):
        w = windows["types"][kind]
        # the sandbox's legacy integration posts within 5 hours (refunds within 31 minutes)
        assert w["documents"] > 0, kind
        assert 0 <= w["p50_hours"] <= w["p95_hours"] <= w["p99_hours"] <= w["max_hours"] <= 5.0
        assert w["configured_hours"] == 24.0 and w["within_configured_pct"] == 100.0
        assert 1 <= w["suggested_hours"] <= 5
    assert windows["types"]["invoice_missing_in_erp"]["documents"] >= invoices > 0
    assert windows["types"]["refund_missing_in_erp"]["max_hours"] <= 31 / 60
    # the configured windows cover every posting: nothing to suggest
    assert windows["too_short"] == {}
    assert "settlement_window_hours" not in report["suggestions"]["dbt_vars"]


def test_a_slower_integration_gets_a_longer_window_suggested(classic_copy: Path) -> None:
    # this company's integration posts invoices a day and a half after finalization
    _sql(
        classic_copy,
        "update raw_erp.transaction set createddate = createddate + interval 36 hours "
        "where type = 'CustInvc'",
    )
    landing = Landing.open(classic_copy)
    try:
        report = diagnose(landing, defaults=AUTO, windows=WINDOWS)
        slow = report["settlement_windows"]["types"]["invoice_missing_in_erp"]
        assert 36 <= slow["p95_hours"] <= slow["max_hours"] <= 41
        assert slow["within_configured_pct"] == 0.0
        suggested = report["suggestions"]["dbt_vars"]["settlement_window_hours"]
        # the whole map (a --vars map replaces dbt_project.yml's), that one window raised
        assert suggested == {**WINDOWS, "invoice_missing_in_erp": slow["suggested_hours"]}
        assert 37 <= slow["suggested_hours"] <= 41
        assert yaml.safe_load(report["suggestions"]["yaml"])["vars"]["settlement_window_hours"] == (
            suggested
        )
        # configured long enough: nothing suggested
        report = diagnose(
            landing, defaults=AUTO, windows={**WINDOWS, "invoice_missing_in_erp": 48.0}
        )
        assert "settlement_window_hours" not in report["suggestions"]["dbt_vars"]
    finally:
        landing.close()
