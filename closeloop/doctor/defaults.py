"""The convention vars in force: `dbt_project/dbt_project.yml` over the shared contract's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

#: Where the dbt project (and its `vars:` defaults) lives.
DBT_PROJECT_FILE = Path(__file__).resolve().parents[2] / "dbt_project" / "dbt_project.yml"

#: The convention vars' defaults of the shared contract, used when dbt_project.yml lacks one.
CONTRACT_DEFAULTS: dict[str, Any] = {
    "customer_account_types": [],
    "billing_customer_crm_link": None,
    "billing_subscription_crm_link": None,
    "product_code_metadata_key": "product_code",
    "erp_invoice_reference_fields": ["externalid", "otherrefnum", "memo"],
    "stripe_invoice_id_pattern": "in_[A-Za-z0-9]+",
    "stripe_invoice_number_pattern": "[A-Z0-9]{3,12}-[0-9]{4,}",
    "erp_payment_reference": "auto",
    "reporting_currency": "USD",
    "opportunity_amendment_amount": "auto",
}


def dbt_var_defaults(path: Path = DBT_PROJECT_FILE) -> dict[str, Any]:
    """The convention vars' defaults: dbt_project.yml's `vars:` over the contract's."""
    out = dict(CONTRACT_DEFAULTS)
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError):
        return out
    found = doc.get("vars") or {}
    for name in CONTRACT_DEFAULTS:
        if name in found:
            out[name] = found[name]
    return out
