"""The settings a report suggests, as a `vars:` block to paste into dbt_project.yml."""

from __future__ import annotations

from typing import Any

import yaml  # type: ignore[import-untyped]


def suggest(report: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """Settings that would change the models' behaviour on this data, with why."""
    conv = report["conventions"]
    links = conv["link_columns"]
    dbt_vars: dict[str, Any] = {}
    optional: dict[str, Any] = {}
    why: dict[str, str] = {}

    rule = conv["customer_rule"]
    extra = [
        x for x in rule.get("customer_types", []) if x not in defaults["customer_account_types"]
    ]
    if extra and rule.get("customer_type_accounts_without_behaviour"):
        optional["customer_account_types"] = sorted({*defaults["customer_account_types"], *extra})
        why["customer_account_types"] = (
            f"{rule['customer_type_accounts_without_behaviour']} account(s) of these types have "
            "no activated contract, live subscription or paid invoice yet; set it to count them "
            "as customers anyway (behaviour alone finds the rest)"
        )

    for var, cands_key in (
        ("billing_customer_crm_link", "billing_customer_crm_link_candidates"),
        ("billing_subscription_crm_link", "billing_subscription_crm_link_candidates"),
    ):
        detected, configured = links[var], defaults[var]
        if detected is None:
            continue
        if configured is None:
            conflicts = links.get(f"{var}_conflicts", 0)
            if conflicts:
                dbt_vars[var] = detected
                why[var] = (
                    f"{', '.join(links[cands_key])} hold different Salesforce ids on "
                    f"{conflicts} record(s) (auto takes the first landed); {detected} resolves "
                    "the most"
                )
        elif str(configured).lower() != detected:
            dbt_vars[var] = detected
            why[var] = f"the default {configured} is not what holds the ids here"

    key, default_key = links["product_code_metadata_key"], defaults["product_code_metadata_key"]
    if key is not None and key != default_key:
        dbt_vars["product_code_metadata_key"] = key
        why["product_code_metadata_key"] = (
            f"Stripe product metadata '{key}' holds the item code (the default is '{default_key}')"
        )

    refs = conv["invoice_references"]
    fields = list(defaults["erp_invoice_reference_fields"] or [])
    extra_fields = [f for f in refs.get("fields_with_references", []) if f not in fields]
    if extra_fields:
        dbt_vars["erp_invoice_reference_fields"] = [*fields, *extra_fields]
        why["erp_invoice_reference_fields"] = (
            f"ERP invoices name their Stripe invoice in {', '.join(extra_fields)} too"
        )

    pay = conv["payment_keys"].get("payment_key")
    configured_pay = defaults["erp_payment_reference"]
    if pay in ("charge", "payment_intent") and configured_pay not in ("auto", pay):
        dbt_vars["erp_payment_reference"] = pay
        why["erp_payment_reference"] = f"ERP payments are keyed by the {pay} id"

    amend = conv["opportunity_amendments"].get("amendment_amount")
    configured_amend = defaults.get("opportunity_amendment_amount", "auto")
    if amend and configured_amend not in ("auto", amend):
        dbt_vars["opportunity_amendment_amount"] = amend
        reads = "the change" if amend == "change" else "the full new terms"
        why["opportunity_amendment_amount"] = f"won amendments' Amount reads as {reads}"

    windows = report.get("settlement_windows") or {}
    if windows.get("too_short"):
        raised = {**windows["configured"], **windows["too_short"]}
        dbt_vars["settlement_window_hours"] = {
            k: int(v) if float(v).is_integer() else v for k, v in raised.items()
        }
        why["settlement_window_hours"] = (
            "the ERP posts "
            + ", ".join(
                f"{n} within {windows['types'][n]['p99_hours']} h (p99) but the window is "
                f"{windows['types'][n]['configured_hours']:g} h"
                for n in windows["too_short"]
            )
            + ": inside the window it is timing, not an exception (docs/exceptions.md)"
        )

    env: list[str] = []
    notes: list[str] = []
    if conv["deleted_records"]["key_sweep_last"] and not conv["deleted_records"]["landed"]:
        notes.append(
            "the ERP role cannot read deletedrecord: deletions come from the key sweep "
            "(SOURCES__ERP__KEY_SWEEP, SOURCES__ERP__KEY_SWEEP_EVERY_HOURS; docs/ingestion.md); "
            "grant the Deleted Records permission to see deletions as they happen"
        )
    fx = conv["fx_rates"]
    if fx.get("currencies_without_rates"):
        notes.append(
            "enter rates in NetSuite for "
            + ", ".join(fx["currencies_without_rates"])
            + " effective on or before the first document listed (no setting can fix this)"
        )
    if report["coverage"]:
        low = [c["pair"] for c in report["coverage"] if (c["matched_pct"] or 0) < 90]
        if low:
            notes.append("low link coverage: " + "; ".join(low))
    return {
        "dbt_vars": dbt_vars,
        "optional_dbt_vars": optional,
        "why": why,
        "yaml": vars_yaml(dbt_vars, optional, why),
        "env": env,
        "notes": notes,
    }


def vars_yaml(dbt_vars: dict[str, Any], optional: dict[str, Any], why: dict[str, str]) -> str:
    """A `vars:` block for dbt_project/dbt_project.yml (optional ones commented out)."""
    if not dbt_vars and not optional:
        return ""
    lines = ["vars:"]
    for name, value in dbt_vars.items():
        if why.get(name):
            lines.append(f"  # {' '.join(why[name].split())}")
        lines.append(f"  {name}: {_yaml_value(value)}")
    for name, value in optional.items():
        lines.append(f"  # optional: {' '.join(why.get(name, '').split())}".rstrip())
        lines.append(f"  # {name}: {_yaml_value(value)}")
    return "\n".join(lines) + "\n"


def _yaml_value(value: Any) -> str:
    return (
        yaml.safe_dump(value, default_flow_style=True, width=1000)
        .strip()
        .removesuffix("\n...")
        .removesuffix("...")
        .strip()
    )
