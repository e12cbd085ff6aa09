"""The report as rich tables, section by section, then the suggested settings."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from closeloop.doctor.conventions import CUSTOMER_TYPE_SHARE


def flatten(items: Iterable[tuple[str, Any]]) -> list[tuple[str, str]]:
    """(label, value) pairs rendered as strings, for the report's tables."""
    out = []
    for label, value in items:
        if isinstance(value, bool):
            text = "yes" if value else "no"
        elif isinstance(value, float):
            text = f"{value:.1f}"
        elif isinstance(value, int):
            text = f"{value:,}"
        elif isinstance(value, list | tuple):
            text = ", ".join(str(v) for v in value) or "-"
        elif value is None or value == "":
            text = "-"
        else:
            text = str(value)
        out.append((label, text))
    return out


def _table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> Any:
    from rich.table import Table

    rows = [list(r) for r in rows]
    table = Table(title=title, title_justify="left", show_lines=False)
    for n, name in enumerate(columns):
        numeric = bool(rows) and all(
            (isinstance(r[n], int | float) and not isinstance(r[n], bool)) or r[n] is None
            for r in rows
        )
        table.add_column(name, justify="right" if numeric else "left", overflow="fold")
    for row in rows:
        table.add_row(*(text for _, text in flatten(("", v) for v in row)))
    return table


def _methods(methods: dict[str, int]) -> str:
    return ", ".join(f"{m} {n:,}" for m, n in sorted(methods.items(), key=lambda kv: -kv[1]))


def render(report: dict[str, Any], console: Any) -> None:
    """Print the report as rich tables, section by section, then the suggested settings."""
    conv = report["conventions"]
    console.rule("closeloop doctor")
    console.print(f"warehouse: {report['warehouse']['path']}")
    for schema, tables in report["landing"].items():
        console.print(f"  {schema}: {len(tables)} tables")
    console.print(
        "  dbt models: "
        + ("built (core found)" if report["models"]["built"] else "not built: raw tables only")
    )

    det = report["detected"]
    console.print(
        _table(
            "Conventions detected (the axes of a sandbox profile)",
            ("convention", "detected"),
            det.items(),
        )
    )

    rule = conv["customer_rule"]
    if rule.get("available"):
        reads = rule["behaviours_read"]
        console.print(
            _table(
                "CRM Account.Type: accounts that behave as customers "
                "(activated contract, live subscription, paid invoice)",
                ("Account.Type", "accounts", "customers", "%", *reads),
                (
                    (
                        x["account_type"] or "(empty)",
                        x["accounts"],
                        x["customers_by_behaviour"],
                        x["share"],
                        *(x["by"].get(r, 0) for r in reads),
                    )
                    for x in rule["types"]
                ),
            )
        )
        console.print(
            f"customer types (>= {CUSTOMER_TYPE_SHARE:.0%} behave as customers): "
            f"{', '.join(rule['customer_types']) or '-'}; mixed (real customers left at a "
            f"stale value, found by behaviour): {', '.join(rule['mixed_types']) or '-'}"
        )
    else:
        console.print(f"CRM Account.Type: {rule.get('reason')}")

    keys = conv["metadata_keys"]
    console.print(
        _table(
            "Stripe metadata keys (landed metadata__<key> columns)",
            (
                "object.column",
                "values",
                "distinct",
                "CRM accounts",
                "CRM contracts",
                "item codes",
                "holds",
            ),
            (
                (
                    f"{obj}.{c['column']}",
                    c["rows_with_value"],
                    c["distinct_values"],
                    c["crm_accounts_found"],
                    c["crm_contracts_found"],
                    max(c["erp_item_codes_found"], c["crm_product_codes_found"]),
                    c["holds"] or "-",
                )
                for obj, cols in keys.items()
                for c in cols
            ),
        )
    )

    prod = conv["product_mapping"]
    if prod.get("available"):
        console.print(
            _table(
                "Products: Stripe product -> ERP item",
                ("what", "figure"),
                [
                    ("Stripe products", prod["products"]),
                    ("mapped", prod["mapped"]),
                    ("by method", _methods(prod["methods"]) or "-"),
                    ("code read from", prod["code_column_read"]),
                    ("ERP items", prod["erp_items"]),
                    ("ERP items with externalid", prod["erp_items_with_externalid"]),
                    ("... = a Stripe product id", prod["erp_items_externalid_is_product_id"]),
                    ("ERP items no product maps to", prod["erp_items_without_product"]),
                ],
            )
        )

    refs = conv["invoice_references"]
    if refs.get("available"):
        console.print(
            _table(
                f"ERP invoices (CustInvc, {refs['erp_invoices']:,}; "
                f"{refs['without_externalid']:,} without externalid): "
                "where they name the Stripe invoice",
                (
                    "field",
                    "with value",
                    "id form",
                    "number form",
                    "resolve by id",
                    "by number",
                    "no-externalid by id",
                    "by number",
                ),
                (
                    (
                        f["field"],
                        f["with_value"],
                        f["id_form"],
                        f["number_form"],
                        f["resolves_by_id"],
                        f["resolves_by_number"],
                        f["without_externalid_resolves_by_id"],
                        f["without_externalid_resolves_by_number"],
                    )
                    for f in refs["fields"]
                ),
            )
        )

    pay = conv["payment_keys"]
    if pay.get("available"):
        console.print(
            _table(
                f"ERP payments (CustPymt, {pay['erp_payments']:,}) by externalid prefix",
                ("prefix", "payments", "Stripe charges", "payment intents"),
                (
                    (p, v["payments"], v["charges_found"], v["payment_intents_found"])
                    for p, v in pay["by_prefix"].items()
                ),
            )
        )

    fx = conv["fx_rates"]
    if fx.get("available"):
        console.print(
            _table(
                f"FX rates against {fx['reporting_currency']} (currencyrate.effectivedate)",
                ("what", "figure"),
                [
                    ("cadence", fx["cadence"]),
                    ("effective dates", fx["effective_dates"]),
                    ("first .. last", f"{fx.get('first')} .. {fx.get('last')}"),
                    ("on the 1st of a month", fx.get("on_the_first_of_month")),
                    (
                        "gap in days (min / median / max)",
                        f"{fx.get('gap_days_min')} / {fx.get('gap_days_median')} / "
                        f"{fx.get('gap_days_max')}",
                    ),
                    ("per currency", ", ".join(f"{k} {v}" for k, v in fx["per_currency"].items())),
                    (
                        "documents rated as of an earlier day",
                        fx["documents_rated_as_of_an_earlier_day"],
                    ),
                    ("currencies without a rate", fx["currencies_without_rates"]),
                ],
            )
        )
    optional = conv["optional_fields"]
    console.print(
        _table(
            "Optional Stripe fields (unused ones never appear in a landing)",
            ("field", "landed columns", "rows with a value"),
            (
                (name, ", ".join(f["columns"]) or "-", f["rows_with_value"])
                for name, f in optional["fields"].items()
            ),
        )
    )
    amend = conv["opportunity_amendments"]
    if amend.get("available"):
        console.print(
            f"Won amendments (later won opportunities on a contract): {amend['won_amendments']:,}, "
            f"{amend['negative']:,} negative, median {amend['median_ratio_to_opening']} of the "
            f"contract's opening Amount: Amount reads as {amend['amendment_amount'] or 'either'}"
        )
    deleted = conv["deleted_records"]
    console.print(
        f"NetSuite deletedrecord: {deleted['note']}"
        + (f" ({deleted['rows']:,} rows)" if deleted["landed"] else "")
    )

    console.print(
        _table(
            "Link coverage per system pair (from the raw tables)",
            ("pair", "records", "matched", "%", "by method"),
            (
                (c["pair"], c["records"], c["matched"], c["matched_pct"], _methods(c["methods"]))
                for c in report["coverage"]
            ),
        )
    )

    windows = report.get("settlement_windows") or {}
    if windows.get("available"):
        columns = ("exception type", "documents", "p50", "p95", "max", "window", "within %")
        console.print(
            _table(
                "Settlement windows: hours from the billing record to its ERP posting",
                (*columns, "suggested"),
                (
                    (
                        name,
                        w["documents"],
                        w.get("p50_hours"),
                        w.get("p95_hours"),
                        w.get("max_hours"),
                        w["configured_hours"],
                        w.get("within_configured_pct"),
                        w.get("suggested_hours"),
                    )
                    for name, w in windows["types"].items()
                ),
            )
        )

    unmapped = report["unmapped_products"]
    if unmapped["count"]:
        console.print(
            _table(
                f"Unmapped products ({unmapped['count']:,})",
                ("product", "name", "code"),
                ((u["product_id"], u["name"], u["code"]) for u in unmapped["items"]),
            )
        )
        if unmapped["left_off"]:
            console.print(f"  ... and {unmapped['left_off']:,} more (--json lists the first ones)")
    missing = report["currencies_without_rates"]
    if missing["documents"]:
        console.print(
            _table(
                "Documents in a currency with no rate on or before their date",
                ("currency", "source", "documents", "without rate", "first date"),
                (
                    (
                        m["currency"],
                        m["source"],
                        m["documents"],
                        m["without_rate"],
                        m["first_date_without_rate"],
                    )
                    for m in missing["documents"]
                ),
            )
        )
        if missing["left_off"]:
            console.print(f"  ... and {missing['left_off']:,} more")

    models = report["models"]
    for model, cols in models["match_methods"].items():
        console.print(
            _table(
                f"{model}: link methods recorded by dbt",
                ("column", "methods"),
                ((col, _methods(counts)) for col, counts in cols.items()),
            )
        )
    dq = models["dq_issues"]
    if dq["built"]:
        console.print(
            _table(
                f"ops.dq_issues: {dq['issues']:,} record(s) kept and flagged, by model",
                ("issue_type", "source_model", "count"),
                ((r["issue_type"], r["source_model"], r["count"]) for r in dq["by_source_model"]),
            )
        )
        kinds, shown = dq["by_reason_kind"], int(report.get("limit", 20))
        console.print(
            _table(
                "ops.dq_issues by reason (dates and numbers blanked; --json has each reason)",
                ("issue_type", "reason", "count"),
                ((r["issue_type"], r["reason"], r["count"]) for r in kinds[:shown]),
            )
        )
        if len(kinds) > shown:
            console.print(f"  ... and {len(kinds) - shown:,} more reasons")
    elif models["built"]:
        console.print("ops.dq_issues: not built")

    sugg = report["suggestions"]
    console.rule("suggested settings")
    if sugg["yaml"]:
        console.print("dbt_project/dbt_project.yml (merge into its vars:)")
        console.print(sugg["yaml"], markup=False, highlight=False)
    else:
        console.print("none: the defaults fit this data")
    for line in sugg["env"]:
        console.print(line, markup=False, highlight=False)
    for note in sugg["notes"]:
        console.print(f"note: {note}", markup=False)
