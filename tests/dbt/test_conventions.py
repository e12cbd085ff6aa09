"""Another company's conventions: the landed sandbox mutated in DuckDB, then rebuilt.

Each test copies the built warehouse, changes the raw landing the way a company the project has
never seen would have it (picklist values, metadata keys, references, rate cadence), runs
`dbt build --full-refresh` and checks that the marts still build, links resolve with their
method recorded, and nothing is a silent null.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest

from closeloop.settings import Settings
from tests.dbt.conftest import Built, copy_warehouse
from tests.dbt.scoring import load_truth, report, score
from tests.dbt.tieout import compare, load_ledger
from transform import DbtOutcome, run_dbt

#: USD columns next to their amount: (model, id column, amount column, USD column).
USD_COLUMNS = (
    ("core.fct_invoice", "invoice_id", "total", "total_usd"),
    ("core.fct_invoice_line", "invoice_line_id", "amount", "amount_usd"),
    ("core.fct_payment", "payment_id", "amount", "amount_usd"),
    ("core.fct_credit_note", "credit_note_id", "total", "total_usd"),
    ("core.fct_contract", "contract_id", "billing_period_amount", "billing_period_amount_usd"),
    ("core.fct_subscription", "subscription_id", "mrr_amount", "mrr_amount_usd"),
    ("kpi.mrr_movements", "mrr_movement_id", "movement_amount", "movement_amount_usd"),
    ("kpi.ar_aging", "invoice_id", "amount_remaining", "amount_remaining_usd"),
)


class Company:
    """A private copy of the built sandbox warehouse whose raw landing a test changes."""

    def __init__(self, built: Built, tmp_path: Path) -> None:
        self.home_settings: Settings = copy_warehouse(built, tmp_path)
        self.home = self.home_settings.home
        self.target = tmp_path / "target"

    def sql(self, *statements: str) -> None:
        """Run statements on the raw landing (one writer: dbt is not running)."""
        con = duckdb.connect(str(self.home_settings.duckdb_path))
        try:
            for statement in statements:
                con.execute(statement)
        finally:
            con.close()

    def rows(self, query: str) -> list[dict[str, Any]]:
        con = duckdb.connect(str(self.home_settings.duckdb_path))
        try:
            cur = con.execute(query)
            names = [d[0] for d in cur.description or []]
            return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
        finally:
            con.close()

    def build(self, *args: str) -> DbtOutcome:
        return run_dbt(
            ["build", "--full-refresh", *args],
            self.home_settings,
            target="dev",
            target_path=self.target,
        )


def _silent_nulls(company: Company) -> list[tuple[str, str]]:
    """USD values that are null next to an amount, with no ops.dq_issues row saying why."""
    out: list[tuple[str, str]] = []
    for table, id_col, amount, usd in USD_COLUMNS:
        model = table.split(".")[1]
        rows = company.rows(
            f"select cast(t.{id_col} as varchar) as record_id from {table} as t "
            f"left join ops.dq_issues as dq on dq.source_model = '{model}' "
            f"and dq.record_id = cast(t.{id_col} as varchar) "
            f"where t.{usd} is null and t.{amount} is not null and dq.issue_id is null"
        )
        out += [(model, r["record_id"]) for r in rows]
    return out


@pytest.fixture()
def company(built: Built, tmp_path: Path) -> Company:
    return Company(built, tmp_path)


def test_other_conventions_link_the_same_records(built: Built, company: Company) -> None:
    """Picklist, metadata keys, product mapping, references and payment keys all differ."""
    company.sql(
        # Salesforce's default picklist, and real customers left at a stale value
        "update raw_crm.account set type = case type when 'Customer' then 'Customer - Direct' "
        "else type end",
        "update raw_crm.account set type = 'Other' where id in (select id from raw_crm.account "
        "where type = 'Customer - Direct' order by id limit 5)",
        # other metadata keys; a metadata column that is no id; 15-character Account ids
        "alter table raw_billing.customers rename column metadata__crm_account_id "
        "to metadata__sfdc_account_id",
        "alter table raw_billing.customers add column metadata__segment varchar",
        "update raw_billing.customers set metadata__segment = 'smb', "
        "metadata__sfdc_account_id = substr(metadata__sfdc_account_id, 1, 15)",
        "alter table raw_billing.subscriptions rename column metadata__crm_contract_id "
        "to metadata__salesforce_contract",
        # no product code in Stripe, no Stripe id on ERP items: products map by name
        "alter table raw_billing.products drop column metadata__product_code",
        "update raw_erp.item set externalid = null",
        # the legacy integration writes the Stripe invoice number in memo, nothing in otherrefnum
        "update raw_erp.\"transaction\" set otherrefnum = null where type = 'CustInvc'",
        # ERP payments keyed by the payment intent
        'update raw_erp."transaction" as t set externalid = ch.payment_intent '
        "from raw_billing.charges as ch where t.type = 'CustPymt' and t.externalid = ch.id",
    )
    outcome = company.build()
    assert outcome.success, outcome.failures or outcome.exception
    assert outcome.failures == [] and outcome.warnings == []

    # recon: the same exceptions; a duplicate is now tied by its memo (field and value say so)
    memos = {
        str(r["id"]): r["memo"]
        for r in company.rows(
            "select id, memo from raw_erp.\"transaction\" where type = 'CustInvc'"
        )
    }
    truth = load_truth(company.home)
    for entry in truth:
        if entry["exception_type"] == "invoice_duplicate_in_erp":
            entry["field"] = "memo"
            entry["wrong_value"] = memos[entry["erp_id"]]
    scores = score(company.rows("select * from recon.recon_exceptions"), truth)
    print("\n" + report(scores))
    for name, s in scores.items():
        assert (s.precision, s.recall) == (1.0, 1.0), (name, s.false_positive, s.false_negative)
        assert s.value_mismatches == [], name
    assert compare(company.rows("select * from kpi.kpi_monthly"), load_ledger(company.home)) == []

    # the same customers, by behaviour; the picklist value is only informative
    def customers(rows: list[dict[str, Any]]) -> set[str]:
        return {r["crm_account_id"] for r in rows}

    query = "select crm_account_id from core.dim_customer where is_customer"
    assert customers(company.rows(query)) == customers(built.rows(query))
    types = company.rows(
        "select distinct crm_account_type from core.dim_customer where is_customer"
    )
    assert {r["crm_account_type"] for r in types} == {"Customer - Direct", "Other"}

    # methods recorded on the links
    links = company.rows(
        "select crm_account_link_column as col, count(*) as n from staging.stg_billing__customers "
        "where crm_account_id is not null group by 1"
    )
    assert [r["col"] for r in links] == ["metadata__sfdc_account_id"]
    products = company.rows("select product_match_method as m from core.dim_product")
    assert {r["m"] for r in products} == {"name"}
    methods = {
        r["m"]
        for r in company.rows(
            "select erp_match_method as m from core.fct_payment where payment_method = 'charge' "
            "and erp_match_method is not null"
        )
    }
    assert methods == {"payment_intent"}
    assert company.rows("select * from ops.dq_issues") == []


def test_monthly_rates_from_a_late_start_degrade_instead_of_failing(company: Company) -> None:
    """Rates effective on the 1st only, entered from 2025 on: earlier documents have none."""
    company.sql(
        "delete from raw_erp.currencyrate where day(cast(effectivedate as date)) <> 1 "
        "or cast(effectivedate as date) < date '2025-01-01'",
    )
    outcome = company.build()
    assert outcome.success, outcome.failures or outcome.exception
    assert outcome.failures == []
    # the USD not_null tests warn, they do not stop the marts
    assert outcome.warnings and all("not_null" in w for w in outcome.warnings)

    assert _silent_nulls(company) == []
    issues = company.rows("select * from ops.dq_issues")
    assert issues and {r["issue_type"] for r in issues} == {"fx_rate_missing"}
    invoice_issue = next(r for r in issues if r["source_model"] == "fct_invoice")
    assert "effective on or before" in invoice_issue["reason"]
    assert "2025-01-01" in invoice_issue["reason"]

    # every date takes the latest rate effective on or before it (here: the month's 1st)
    wrong = company.rows(
        "select * from core.dim_fx_rate as f, (select max(cast(effectivedate as date)) as last "
        "from raw_erp.currencyrate) as r where f.currency_code <> 'USD' "
        "and f.rate_effective_date <> least(date_trunc('month', f.rate_date), r.last)"
    )
    assert wrong == []
    rates = company.rows(
        "select f.currency_code, f.rate_date, f.usd_per_unit, cast(r.exchangerate as "
        "decimal(38, 9)) as expected from core.dim_fx_rate as f "
        "join staging.stg_erp__currencies as c on c.currency_code = f.currency_code "
        "join raw_erp.currencyrate as r on r.transactioncurrency = c.currency_id "
        "and cast(r.effectivedate as date) = f.rate_effective_date and r.basecurrency = 1 "
        "where f.currency_code <> 'USD'"
    )
    assert rates and all(r["usd_per_unit"] == r["expected"] for r in rates)

    # KPIs keep every currency in every month; USD figures exclude (and count) the unconverted
    kpi = company.rows(
        "select currency_code, count(*) as months, sum(usd_missing_count) as missing "
        "from kpi.kpi_monthly group by 1"
    )
    by_currency = {r["currency_code"]: r for r in kpi}
    assert {"USD", "EUR", "GBP", "JPY", "ALL"} <= set(by_currency)
    assert len({r["months"] for r in kpi}) == 1
    assert by_currency["EUR"]["missing"] > 0 and by_currency["USD"]["missing"] == 0


def test_a_currency_the_erp_never_rated_is_kept_and_flagged(company: Company) -> None:
    """No GBP rate at all: GBP documents stay, in GBP, listed as currency_unknown."""
    company.sql(
        "delete from raw_erp.currencyrate where transactioncurrency = (select id from "
        "raw_erp.currency where symbol = 'GBP') or basecurrency = (select id from "
        "raw_erp.currency where symbol = 'GBP')",
    )
    outcome = company.build()
    assert outcome.success, outcome.failures or outcome.exception
    assert _silent_nulls(company) == []
    unknown = company.rows("select * from ops.dq_issues where issue_type = 'currency_unknown'")
    assert unknown and {r["currency_code"] for r in unknown} == {"GBP"}
    gbp = company.rows(
        "select sum(billings) as billings, sum(billings_usd) as usd, sum(usd_missing_count) as n "
        "from kpi.kpi_monthly where currency_code = 'GBP'"
    )[0]
    assert gbp["billings"] > 0 and gbp["usd"] == 0 and gbp["n"] > 0
    # recon still reports GBP exceptions, each listed; a money delta has no USD (never 1:1)
    # and needs approval
    flagged = company.rows(
        "select e.exception_id, dq.issue_id, e.amount_delta, e.amount_delta_usd, "
        "e.requires_approval from recon.recon_exceptions as e "
        "left join ops.dq_issues as dq on dq.source_model = 'recon_exceptions' "
        "and dq.record_id = e.exception_id where e.currency_code = 'GBP'"
    )
    assert flagged and all(r["issue_id"] is not None for r in flagged)
    money = [r for r in flagged if r["amount_delta"]]
    assert money and all(r["amount_delta_usd"] is None and r["requires_approval"] for r in money)


def test_unmapped_products_and_dangling_links_are_listed(company: Company) -> None:
    """A product nothing names, a customer link to an account the CRM lacks."""
    company.sql(
        "alter table raw_billing.products drop column metadata__product_code",
        "update raw_erp.item set externalid = null",
        "update raw_billing.products set name = 'Mystery Bundle' where id = "
        "(select min(id) from raw_billing.products)",
        "update raw_billing.customers set metadata__crm_account_id = '001000000000000AAA' "
        "where id = (select min(id) from raw_billing.customers "
        "where metadata__crm_account_id is not null)",
    )
    outcome = company.build()
    assert outcome.success, outcome.failures or outcome.exception
    issues = company.rows("select * from ops.dq_issues order by issue_type")
    kinds = {(r["issue_type"], r["source_model"]) for r in issues}
    assert ("product_unmapped", "int_products_mapped") in kinds
    assert ("link_unresolved", "stg_billing__customers") in kinds
    product = next(r for r in issues if r["issue_type"] == "product_unmapped")
    assert "Mystery Bundle" in product["reason"]
    unmapped = company.rows(
        "select * from core.dim_product where product_match_method = 'unmapped'"
    )
    assert [r["product_code"] for r in unmapped] == [product["record_id"]]
