"""`closeloop doctor`: read a landing and say which conventions the company's data follows.

The report is computed from the raw tables dlt landed (`raw_crm`, `raw_billing`, `raw_erp`), so it
works when `dbt build` does not; when the dbt models are built it adds their link methods
(`*_match_method` columns of the `core` models) and the data-quality issues (`ops.dq_issues`).
Every finding carries its evidence (counts), and the settings that would change the models'
behaviour are suggested in copy-paste form (a `vars:` block for `dbt_project/dbt_project.yml`).
docs/conventions.md lists each convention, its setting and how this module detects it.

The SQL is plain SELECTs over `information_schema` and the raw tables; what is DuckDB-only is
marked `# duckdb:` (`regexp_extract`, `regexp_replace` with the `'g'` flag, `to_timestamp` of
epoch seconds); Snowflake is not read yet.

Modules: `landing` (the warehouse and SQL helpers), `defaults` (the convention vars in force),
`conventions` (the evidence per convention), `coverage` (links per system pair, the built
models), `timing` (the ERP's posting lag per exception type against its settlement window),
`suggest` (the vars to set), `render` (rich tables).
"""

from __future__ import annotations

from typing import Any

from closeloop.doctor.conventions import (
    ACCOUNT_PREFIX,
    CONTRACT_PREFIX,
    customer_rule,
    deleted_records,
    effective_link,
    fx_rates,
    invoice_references,
    link_columns,
    link_conflicts,
    metadata_keys,
    opportunity_amendments,
    optional_fields,
    payment_keys,
    product_mapping,
)
from closeloop.doctor.coverage import built_models, coverage, reason_kind
from closeloop.doctor.defaults import CONTRACT_DEFAULTS, dbt_var_defaults
from closeloop.doctor.landing import DoctorError, Landing
from closeloop.doctor.render import render
from closeloop.doctor.suggest import suggest
from closeloop.doctor.timing import configured_windows, settlement_windows
from closeloop.settings import Settings

__all__ = [
    "DoctorError",
    "Landing",
    "detected_conventions",
    "diagnose",
    "reason_kind",
    "render",
    "run_doctor",
]


def diagnose(
    landing: Landing,
    defaults: dict[str, Any] | None = None,
    limit: int = 20,
    windows: dict[str, float] | None = None,
) -> dict[str, Any]:
    """The whole report as plain data (JSON-ready).

    Args:
        landing: the open warehouse.
        defaults: the convention vars in force (default: dbt_project.yml over the contract).
        limit: how many items a list shows before it says how many it left off.
        windows: the settlement windows in force, hours per exception type (default:
            dbt_project.yml's `settlement_window_hours`).

    Raises:
        DoctorError: when no raw table has landed.
    """
    defaults = {**CONTRACT_DEFAULTS, **(defaults or dbt_var_defaults())}
    raw = landing.raw_tables()
    if not raw:
        raise DoctorError(
            f"no landing in {landing.path}: no raw_crm / raw_billing / raw_erp tables "
            "(run `closeloop ingest all` first)"
        )
    keys = metadata_keys(landing)
    links = link_columns(keys)
    customer_link = effective_link(
        landing, "customers", defaults["billing_customer_crm_link"], ACCOUNT_PREFIX
    )
    subscription_link = effective_link(
        landing, "subscriptions", defaults["billing_subscription_crm_link"], CONTRACT_PREFIX
    )
    for var, table, prefix in (
        ("billing_customer_crm_link", "customers", ACCOUNT_PREFIX),
        ("billing_subscription_crm_link", "subscriptions", CONTRACT_PREFIX),
    ):
        links[f"{var}_conflicts"] = link_conflicts(
            landing, table, links[f"{var}_candidates"], prefix
        )
    code_key = defaults["product_code_metadata_key"]
    code_column = (
        f"metadata__{code_key}"
        if code_key and landing.has("raw_billing", "products", f"metadata__{code_key}")
        else None
    )
    products = product_mapping(landing, code_column)
    patterns = (
        str(defaults["stripe_invoice_id_pattern"]),
        str(defaults["stripe_invoice_number_pattern"]),
    )
    fx = fx_rates(landing, str(defaults["reporting_currency"] or "USD"), limit)
    report: dict[str, Any] = {
        "warehouse": {"kind": "duckdb", "path": str(landing.path)},
        "limit": limit,
        "landing": raw,
        "defaults": defaults,
        "conventions": {
            "customer_rule": customer_rule(landing, customer_link, subscription_link),
            "metadata_keys": keys,
            "link_columns": links,
            "product_mapping": {
                **{k: v for k, v in products.items() if k != "unmapped"},
                "code_column_read": code_column,
            },
            "invoice_references": invoice_references(landing, *patterns),
            "payment_keys": payment_keys(landing),
            "fx_rates": fx,
            "deleted_records": deleted_records(landing),
            "optional_fields": optional_fields(landing),
            "opportunity_amendments": opportunity_amendments(landing),
        },
    }
    report["coverage"] = coverage(landing, customer_link, subscription_link, products, *patterns)
    unmapped = products.get("unmapped", [])
    report["unmapped_products"] = {
        "count": len(unmapped),
        "items": unmapped[:limit],
        "left_off": max(0, len(unmapped) - limit),
    }
    report["currencies_without_rates"] = {
        "currencies": fx.get("currencies_without_rates", []),
        "documents": fx.get("documents_without_rate", []),
        "left_off": fx.get("documents_without_rate_left_off", 0),
    }
    report["settlement_windows"] = settlement_windows(
        landing, configured_windows() if windows is None else windows, *patterns
    )
    report["models"] = built_models(landing, limit)
    report["detected"] = detected_conventions(report)
    report["suggestions"] = suggest(report, defaults)
    return report


def detected_conventions(report: dict[str, Any]) -> dict[str, Any]:
    """The conventions in the shape of a sandbox profile's axes (`<home>/sandbox/profile.json`),
    so a test can compare them."""
    conv = report["conventions"]
    links = conv["link_columns"]

    def key_of(column: str | None) -> str | None:
        return column.rsplit("metadata__", 1)[1] if column else None

    fx = conv["fx_rates"]
    refs = conv["invoice_references"]
    return {
        "crm.customer_types": conv["customer_rule"].get("customer_types", []),
        "billing.customer_link_key": key_of(links["billing_customer_crm_link"]),
        "billing.subscription_link_key": key_of(links["billing_subscription_crm_link"]),
        "billing.product_code_key": links["product_code_metadata_key"] or "",
        "erp.item_externalid": conv["product_mapping"].get("item_externalid"),
        "erp.rate_cadence": fx.get("cadence"),
        "erp.invoice_reference_field": refs.get("reference_field"),
        "erp.invoice_reference_value": refs.get("reference_value"),
        "erp.payment_key": conv["payment_keys"].get("payment_key"),
        "erp.deleted_records_permission": conv["deleted_records"]["permission"],
        "billing.unused_optional_fields": conv["optional_fields"]["unused"],
        "opportunities.amendment_amount": conv["opportunity_amendments"].get("amendment_amount"),
    }


def run_doctor(settings: Settings, limit: int = 20) -> dict[str, Any]:
    """Open the configured warehouse and diagnose it.

    Raises:
        DoctorError: on a Snowflake warehouse (not read yet), or when there is no landing.
    """
    if settings.warehouse != "duckdb":
        raise DoctorError(
            "closeloop doctor reads the DuckDB warehouse only for now "
            f"(CLOSELOOP_WAREHOUSE={settings.warehouse})"
        )
    landing = Landing.open(settings.duckdb_path)
    try:
        return diagnose(landing, limit=limit)
    finally:
        landing.close()
