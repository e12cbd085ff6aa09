"""`closeloop doctor`: read a landing and say which conventions the company's data follows.

The report is computed from the raw tables dlt landed (`raw_crm`, `raw_billing`, `raw_erp`), so it
works when `dbt build` does not; when the dbt models are built it adds their link methods
(`*_match_method` columns of the `core` models) and the data-quality issues (`ops.dq_issues`).
Every finding carries its evidence (counts), and the settings that would change the models'
behaviour are suggested in copy-paste form (a `vars:` block for `dbt_project/dbt_project.yml`).
docs/conventions.md lists each convention, its setting and how this module detects it.

The SQL is plain SELECTs over `information_schema` and the raw tables; what is DuckDB-only is
marked `-- duckdb:` (regular expressions with the `'g'` flag, `filter (where ...)`).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import itertools
import json
import re
import statistics
import zlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import yaml  # type: ignore[import-untyped]

from closeloop.settings import Settings

#: Where the dbt project (and its `vars:` defaults) lives.
DBT_PROJECT_FILE = Path(__file__).resolve().parent.parent / "dbt_project" / "dbt_project.yml"

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
}

#: Stripe subscription statuses that make a subscription live (as the dbt models count them).
LIVE_SUBSCRIPTION_STATUSES = ("active", "past_due")
#: Salesforce key prefixes (the first three characters of an id name its object).
ACCOUNT_PREFIX, CONTRACT_PREFIX = "001", "800"
#: ERP transaction fields a legacy integration may write the Stripe invoice reference into.
INVOICE_REFERENCE_CANDIDATES = ("externalid", "otherrefnum", "memo", "tranid")
#: The share of a picklist value's accounts that must behave as customers to call it a
#: customer type; a value with a smaller but real share is "mixed" (customers left at a stale
#: value: behaviour finds them, the value should not be configured).
CUSTOMER_TYPE_SHARE = 0.9
MIXED_TYPE_SHARE = 0.05
#: Optional Stripe fields (as a sandbox profile names them) -> (raw table, landed column, or a
#: column prefix ending in `__`). A field is unused when no landed row has a value for it.
OPTIONAL_STRIPE_FIELDS = {
    "customer.metadata": ("customers", "metadata__"),
    "subscription.metadata": ("subscriptions", "metadata__"),
    "product.metadata": ("products", "metadata__"),
    "invoice.subscription_details.metadata": ("invoices", "subscription_details__metadata__"),
    "invoice.status_transitions.marked_uncollectible_at": (
        "invoices",
        "status_transitions__marked_uncollectible_at",
    ),
    "invoice.discounts": ("invoices", "discounts"),
    "subscription.discounts": ("subscriptions", "discounts"),
    "subscription.trial_end": ("subscriptions", "trial_end"),
}


class DoctorError(Exception):
    """There is nothing to diagnose (no warehouse file, no landing, unsupported warehouse)."""


@dataclass
class Landing:
    """A read connection to the warehouse and what it holds."""

    con: duckdb.DuckDBPyConnection
    path: Path
    columns: dict[tuple[str, str], list[str]] = field(default_factory=dict)

    @classmethod
    def open(cls, path: Path) -> Landing:
        """Open the DuckDB file read-only (read-write when this process already holds it, as
        dbt-duckdb does in tests: DuckDB shares one instance per file and configuration)."""
        if not path.exists():
            raise DoctorError(
                f"no warehouse at {path}: run `closeloop ingest all` first "
                "(or set CLOSELOOP_HOME to the home that holds the landing)"
            )
        try:
            con = duckdb.connect(str(path), read_only=True)
        except duckdb.ConnectionException:
            con = duckdb.connect(str(path))
        landing = cls(con, path)
        landing.refresh()
        return landing

    def refresh(self) -> None:
        """Read the catalogue: every table's columns, by (schema, table)."""
        self.columns = {}
        for schema, table, column in self.con.execute(
            "select table_schema, table_name, column_name from information_schema.columns "
            "order by table_schema, table_name, ordinal_position"
        ).fetchall():
            self.columns.setdefault((schema.lower(), table.lower()), []).append(column.lower())

    def close(self) -> None:
        self.con.close()

    def has(self, schema: str, table: str, *cols: str) -> bool:
        """True when the table exists with every one of `cols`."""
        have = self.columns.get((schema, table))
        return have is not None and all(c in have for c in cols)

    def cols(self, schema: str, table: str) -> list[str]:
        return self.columns.get((schema, table), [])

    def raw_tables(self) -> dict[str, list[str]]:
        """The landed tables of each raw dataset (dlt's own tables left out)."""
        out: dict[str, list[str]] = {}
        for schema, table in sorted(self.columns):
            if schema in ("raw_crm", "raw_billing", "raw_erp") and not table.startswith("_dlt"):
                out.setdefault(schema, []).append(table)
        return out

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self.con.execute(sql, list(params)).fetchall()

    def one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...]:
        row = self.con.execute(sql, list(params)).fetchone()
        assert row is not None
        return tuple(row)


def q(name: str) -> str:
    """A quoted identifier."""
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def t(schema: str, table: str) -> str:
    """A quoted schema-qualified table name."""
    return f"{q(schema)}.{q(table)}"


def pct(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 1) if whole else None


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


# --- conventions --------------------------------------------------------------------------


def _not_deleted(landing: Landing, schema: str, table: str, alias: str = "") -> str:
    prefix = f"{alias}." if alias else ""
    if landing.has(schema, table, "is_deleted"):
        return f"not coalesce({prefix}is_deleted, false)"
    return "true"


def metadata_keys(landing: Landing) -> dict[str, list[dict[str, Any]]]:
    """Stripe metadata columns (`metadata__<key>`, also nested under invoices'
    `subscription_details`) per object, with what their values look like and resolve to."""
    accounts = landing.has("raw_crm", "account", "id")
    contracts = landing.has("raw_crm", "contract", "id")
    item_codes = landing.has("raw_erp", "item", "itemid")
    crm_codes = landing.has("raw_crm", "product2", "product_code")
    out: dict[str, list[dict[str, Any]]] = {}
    for obj in ("customers", "subscriptions", "products", "invoices"):
        found = []
        for col in landing.cols("raw_billing", obj):
            if "metadata__" not in col:
                continue
            v = f"cast({q(col)} as varchar)"
            checks = [
                f"count({v})",
                f"count(distinct {v})",
                f"sum(case when {v} like '{ACCOUNT_PREFIX}%' and length({v}) in (15, 18) "
                "then 1 else 0 end)",
                f"sum(case when {v} like '{CONTRACT_PREFIX}%' and length({v}) in (15, 18) "
                "then 1 else 0 end)",
            ]
            joins = []
            # Salesforce ids compare on their first 15 characters (some tools export 15)
            if accounts:
                joins.append(
                    f"left join (select distinct left(id, 15) as k from {t('raw_crm', 'account')})"
                    f" as acc on left({v}, 15) = acc.k"
                )
                checks.append("count(acc.k)")
            else:
                checks.append("0")
            if contracts:
                joins.append(
                    f"left join (select distinct left(id, 15) as k "
                    f"from {t('raw_crm', 'contract')}) as con on left({v}, 15) = con.k"
                )
                checks.append("count(con.k)")
            else:
                checks.append("0")
            if item_codes:
                joins.append(
                    f"left join (select distinct upper(itemid) as k from {t('raw_erp', 'item')})"
                    f" as itm on upper({v}) = itm.k"
                )
                checks.append("count(itm.k)")
            else:
                checks.append("0")
            if crm_codes:
                joins.append(
                    "left join (select distinct upper(product_code) as k "
                    f"from {t('raw_crm', 'product2')}) as pc on upper({v}) = pc.k"
                )
                checks.append("count(pc.k)")
            else:
                checks.append("0")
            row = landing.one(
                f"select {', '.join(checks)} from {t('raw_billing', obj)} as src {' '.join(joins)}"
            )
            non_null, distinct, acc_shaped, con_shaped, acc_found, con_found, itm, crm = (
                int(x or 0) for x in row
            )
            kind = None
            if acc_found and acc_found >= con_found:
                kind = "salesforce_account_id"
            elif con_found:
                kind = "salesforce_contract_id"
            elif itm or crm:
                kind = "product_code"
            found.append(
                {
                    "column": col,
                    "key": col.rsplit("metadata__", 1)[1],
                    "rows_with_value": non_null,
                    "distinct_values": distinct,
                    "account_id_shaped": acc_shaped,
                    "contract_id_shaped": con_shaped,
                    "crm_accounts_found": acc_found,
                    "crm_contracts_found": con_found,
                    "erp_item_codes_found": itm,
                    "crm_product_codes_found": crm,
                    "holds": kind,
                }
            )
        out[obj] = found
    return out


def _best(columns: list[dict[str, Any]], count_field: str) -> dict[str, Any] | None:
    ranked = [c for c in columns if c[count_field] > 0]
    ranked.sort(key=lambda c: (-c[count_field], c["column"]))
    return ranked[0] if ranked else None


def link_columns(keys: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """The detected link columns: which metadata column names the CRM account, the contract and
    the product code (the one resolving most values), and the other candidates."""

    def pick(obj: str, count_field: str) -> tuple[str | None, list[str]]:
        cols = [c for c in keys.get(obj, []) if c[count_field] > 0]
        best = _best(cols, count_field)
        return (best["column"] if best else None), [c["column"] for c in cols]

    customer, customer_all = pick("customers", "crm_accounts_found")
    subscription, subscription_all = pick("subscriptions", "crm_contracts_found")
    invoice, invoice_all = pick("invoices", "crm_contracts_found")
    products = [
        {**c, "code_matches": max(c["erp_item_codes_found"], c["crm_product_codes_found"])}
        for c in keys.get("products", [])
    ]
    code = _best(products, "code_matches")
    return {
        "billing_customer_crm_link": customer,
        "billing_customer_crm_link_candidates": customer_all,
        "billing_subscription_crm_link": subscription,
        "billing_subscription_crm_link_candidates": subscription_all,
        "billing_invoice_crm_contract_link": invoice,
        "billing_invoice_crm_contract_link_candidates": invoice_all,
        "product_code_metadata_key": code["key"] if code else None,
    }


def _effective_link(
    landing: Landing, table: str, configured: Any, detected: str | None
) -> str | None:
    """The column a link reads under the settings in force: the configured one (None when it
    has not landed: the models then find no id link), else (auto) the detected one."""
    if isinstance(configured, str) and configured:
        return configured.lower() if landing.has("raw_billing", table, configured.lower()) else None
    return detected


def _unique_account_names(landing: Landing) -> str:
    """SQL: normalized account names that name exactly one account (`k`, `id`)."""
    return (
        f"select {_name_key('name')} as k, min(id) as id from {t('raw_crm', 'account')} "
        f"where {_not_deleted(landing, 'raw_crm', 'account')} group by 1 having count(*) = 1"
    )


def _billing_account_links(landing: Landing, customer_link: str | None) -> str:
    """SQL: each Stripe customer's CRM account (`customer_id`, `k` = its 15-character id), by
    the link column, else by a normalized name naming one account; "" without customers."""
    if not landing.has("raw_billing", "customers", "id"):
        return ""
    cus = t("raw_billing", "customers")
    parts = []
    if customer_link:
        parts.append(
            f"select id as customer_id, left(cast({q(customer_link)} as varchar), 15) as k "
            f"from {cus} where {q(customer_link)} is not null"
        )
    if landing.has("raw_billing", "customers", "name") and landing.has(
        "raw_crm", "account", "name"
    ):
        unlinked = f"b.{q(customer_link)} is null" if customer_link else "true"
        parts.append(
            f"select b.id as customer_id, left(n.id, 15) as k from {cus} as b "
            f"join ({_unique_account_names(landing)}) as n on {_name_key('b.name')} = n.k "
            f"where {unlinked}"
        )
    return " union all ".join(parts)


def customer_rule(
    landing: Landing, customer_link: str | None, subscription_link: str | None
) -> dict[str, Any]:
    """Per Account.Type value: how many accounts behave as customers (an activated contract, a
    live subscription linked to them, or a paid invoice)."""
    if not landing.has("raw_crm", "account", "id", "type"):
        return {"available": False, "reason": "raw_crm.account (with type) not landed"}
    parts: dict[str, str] = {}
    if landing.has("raw_crm", "contract", "account_id", "status"):
        parts["contract"] = (
            f"select distinct left(account_id, 15) as k from {t('raw_crm', 'contract')} "
            f"where status = 'Activated' and {_not_deleted(landing, 'raw_crm', 'contract')}"
        )
    live = ", ".join(f"'{s}'" for s in LIVE_SUBSCRIPTION_STATUSES)
    links = _billing_account_links(landing, customer_link)
    subs, invs = t("raw_billing", "subscriptions"), t("raw_billing", "invoices")
    by_contract = subscription_link is not None and landing.has("raw_crm", "contract", "id")
    # a subscription or invoice names its account through its customer's link (by id, else a
    # unique name), or through its subscription's CRM contract (a deleted Stripe customer too)
    sources = []
    if links and landing.has("raw_billing", "subscriptions", "customer", "status"):
        sources.append(
            f"select ba.k from {subs} as s join ({links}) as ba on s.customer = ba.customer_id "
            f"where s.status in ({live})"
        )
    if by_contract and landing.has("raw_billing", "subscriptions", "status"):
        sources.append(
            f"select left(c.account_id, 15) as k from {subs} as s "
            f"join {t('raw_crm', 'contract')} as c "
            f"on left(s.{q(str(subscription_link))}, 15) = left(c.id, 15) "
            f"where s.status in ({live})"
        )
    if sources:
        parts["subscription"] = " union ".join(sources)
    paid = "i.status = 'paid' and i.total > 0"
    sources = []
    if links and landing.has("raw_billing", "invoices", "customer", "status", "total"):
        sources.append(
            f"select ba.k from {invs} as i join ({links}) as ba on i.customer = ba.customer_id "
            f"where {paid}"
        )
    if by_contract and landing.has("raw_billing", "invoices", "subscription", "status", "total"):
        sources.append(
            f"select left(c.account_id, 15) as k from {invs} as i "
            f"join {subs} as s on i.subscription = s.id "
            f"join {t('raw_crm', 'contract')} as c "
            f"on left(s.{q(str(subscription_link))}, 15) = left(c.id, 15) where {paid}"
        )
    if sources:
        parts["paid_invoice"] = " union ".join(sources)
    ctes = ", ".join(f"{name} as ({sql})" for name, sql in parts.items())
    joins = " ".join(
        f"left join (select distinct k from {name}) as {name} on left(a.id, 15) = {name}.k"
        for name in parts
    )
    counts = ", ".join(f"count({name}.k)" for name in parts) or "0"
    anyone = " or ".join(f"{name}.k is not null" for name in parts) or "false"
    sql = (
        f"{'with ' + ctes if ctes else ''} "
        f"select coalesce(a.type, '') as account_type, count(*), "
        f"sum(case when {anyone} then 1 else 0 end), {counts} "
        f"from {t('raw_crm', 'account')} as a {joins} "
        f"where {_not_deleted(landing, 'raw_crm', 'account', 'a')} "
        "group by 1 order by 2 desc, 1"
    )
    types: list[dict[str, Any]] = []
    for row in landing.rows(sql):
        accounts, customers = int(row[1]), int(row[2] or 0)
        by = {name: int(row[3 + n] or 0) for n, name in enumerate(parts)}
        types.append(
            {
                "account_type": row[0] or None,
                "accounts": accounts,
                "customers_by_behaviour": customers,
                "share": pct(customers, accounts),
                "by": by,
            }
        )
    customer_types = [
        x["account_type"]
        for x in types
        if x["account_type"] and x["customers_by_behaviour"] >= CUSTOMER_TYPE_SHARE * x["accounts"]
    ]
    mixed_types = [
        x["account_type"]
        for x in types
        if x["account_type"] not in customer_types
        and x["customers_by_behaviour"] > MIXED_TYPE_SHARE * x["accounts"]
    ]
    return {
        "available": True,
        "behaviours_read": list(parts),
        "types": types,
        "customer_types": sorted(customer_types),
        "mixed_types": sorted(str(x) for x in mixed_types),
        "customers_by_behaviour": sum(x["customers_by_behaviour"] for x in types),
        "customers_outside_customer_types": sum(
            x["customers_by_behaviour"] for x in types if x["account_type"] not in customer_types
        ),
        "customer_type_accounts_without_behaviour": sum(
            x["accounts"] - x["customers_by_behaviour"]
            for x in types
            if x["account_type"] in customer_types
        ),
    }


def _norm(value: Any) -> str:
    """Lower case, letters and digits only (the models' `normalize_code`)."""
    return re.sub(r"[^a-z0-9]", "", str(value or "").lower())


def product_mapping(landing: Landing, code_column: str | None) -> dict[str, Any]:
    """Stripe products to ERP items in the models' order (`int_products_mapped`, same method
    names): the metadata code (`metadata`), else item externalid = product id
    (`erp_external_id`), else the product's name normalised equals exactly one CRM product's or
    ERP item's code (`code`) or name (`name`). Unmapped products are listed."""
    if not landing.has("raw_billing", "products", "id"):
        return {"available": False, "reason": "raw_billing.products not landed"}
    pcols = landing.cols("raw_billing", "products")
    name = "name" if "name" in pcols else "null"
    code = q(code_column) if code_column and code_column in pcols else "null"
    products = landing.rows(
        f"select id, cast({name} as varchar), cast({code} as varchar) "
        f"from {t('raw_billing', 'products')} order by id"
    )
    icols = landing.cols("raw_erp", "item")
    items: list[tuple[Any, ...]] = []
    if "id" in icols:
        items = landing.rows(
            "select cast(id as varchar), "
            + ", ".join(
                f"cast({q(c)} as varchar)" if c in icols else "null"
                for c in ("itemid", "displayname", "externalid")
            )
            + f" from {t('raw_erp', 'item')}"
        )
    crm: list[tuple[Any, ...]] = []
    if landing.has("raw_crm", "product2", "name", "product_code"):
        crm = landing.rows(
            f"select product_code, name from {t('raw_crm', 'product2')} "
            "where product_code is not null"
        )
    by_code = {_norm(i[1]): i[0] for i in items if i[1]}
    by_external = {str(i[3]): i[0] for i in items if i[3]}
    # a normalised code or name -> the codes it names (CRM products and ERP items)
    code_keys: dict[str, set[str]] = {}
    name_keys: dict[str, set[str]] = {}
    for code_value, name_value in [*crm, *((i[1], i[2]) for i in items if i[1])]:
        code_keys.setdefault(_norm(code_value), set()).add(_norm(code_value))
        if name_value:
            name_keys.setdefault(_norm(name_value), set()).add(_norm(code_value))
    methods: Counter[str] = Counter()
    unmapped = []
    mapped_items = set()
    for pid, pname, pcode in products:
        key = _norm(pname)
        codes = code_keys.get(key, set()) if key else set()
        names = name_keys.get(key, set()) if key else set()
        if pcode and _norm(pcode) in by_code:
            method, item = "metadata", by_code[_norm(pcode)]
        elif pid in by_external:
            method, item = "erp_external_id", by_external[pid]
        elif len(codes) == 1 and next(iter(codes)) in by_code:
            method, item = "code", by_code[next(iter(codes))]
        elif len(names) == 1 and next(iter(names)) in by_code:
            method, item = "name", by_code[next(iter(names))]
        else:
            unmapped.append({"product_id": pid, "name": pname, "code": pcode})
            continue
        methods[method] += 1
        mapped_items.add(item)
    external = [i for i in items if i[3]]
    return {
        "available": True,
        "products": len(products),
        "mapped": len(products) - len(unmapped),
        "methods": dict(methods),
        "unmapped": unmapped,
        "erp_items": len(items),
        "erp_items_with_externalid": len(external),
        "erp_items_externalid_is_product_id": sum(
            1 for i in external if i[3] in {p[0] for p in products}
        ),
        "erp_items_without_product": len(items) - len(mapped_items),
        "item_externalid": (
            "product_id"
            if external and sum(1 for i in external if i[3].startswith("prod_")) == len(external)
            else ("none" if not external else "other")
        ),
    }


def invoice_references(
    landing: Landing,
    id_pattern: str = CONTRACT_DEFAULTS["stripe_invoice_id_pattern"],
    number_pattern: str = CONTRACT_DEFAULTS["stripe_invoice_number_pattern"],
) -> dict[str, Any]:
    """Where ERP invoices (CustInvc) name their Stripe invoice, by field and form (the `in_`
    id or the invoice number, alone or inside text), and which resolve to a landed invoice."""
    tcols = landing.cols("raw_erp", "transaction")
    if not {"id", "type"} <= set(tcols):
        return {"available": False, "reason": "raw_erp.transaction not landed"}
    has_inv = landing.has("raw_billing", "invoices", "id", "number")
    fields = [f for f in INVOICE_REFERENCE_CANDIDATES if f in tcols]
    total, without_externalid = landing.one(
        "select count(*), "
        + ("sum(case when externalid is null then 1 else 0 end)" if "externalid" in tcols else "0")
        + f" from {t('raw_erp', 'transaction')} where type = 'CustInvc'"
    )
    found: list[dict[str, Any]] = []
    for f in fields:
        v = f"cast(tr.{q(f)} as varchar)"
        ids = f"regexp_extract({v}, {_literal(id_pattern)})"  # duckdb: regexp_substr elsewhere
        nums = f"regexp_extract({v}, {_literal(number_pattern)})"
        joins = ""
        resolved = "0, 0, 0, 0"
        if has_inv:
            inv = t("raw_billing", "invoices")
            joins = (
                f"left join {inv} as by_id on {ids} = by_id.id "
                f"left join {inv} as by_no on {nums} = by_no.number"
            )
            resolved = (
                "count(by_id.id), count(by_no.id), "
                "sum(case when tr.externalid is null and by_id.id is not null then 1 else 0 end), "
                "sum(case when tr.externalid is null and by_no.id is not null then 1 else 0 end)"
                if "externalid" in tcols
                else "count(by_id.id), count(by_no.id), 0, 0"
            )
        row = landing.one(
            f"select count({v}), "
            f"sum(case when {ids} <> '' then 1 else 0 end), "
            f"sum(case when {nums} <> '' then 1 else 0 end), "
            f"sum(case when {v} = {ids} or {v} = {nums} then 1 else 0 end), "
            f"{resolved} "
            f"from {t('raw_erp', 'transaction')} as tr {joins} where tr.type = 'CustInvc'"
        )
        with_value, id_form, number_form, whole, id_ok, no_ok, dup_id, dup_no = (
            int(x or 0) for x in row
        )
        found.append(
            {
                "field": f,
                "with_value": with_value,
                "id_form": id_form,
                "number_form": number_form,
                "whole_value": whole,
                "resolves_by_id": id_ok,
                "resolves_by_number": no_ok,
                "without_externalid_resolves_by_id": dup_id,
                "without_externalid_resolves_by_number": dup_no,
            }
        )
    # the field the legacy integration writes: what invoices without an externalid carry (a
    # duplicate posting cannot reuse it), else the best-resolving field after externalid
    order = {f: n for n, f in enumerate(INVOICE_REFERENCE_CANDIDATES)}
    candidates = []
    for x in found:
        if x["field"] == "externalid":
            continue
        for form in ("id", "number"):
            candidates.append(
                (
                    x[f"without_externalid_resolves_by_{form}"],
                    x[f"resolves_by_{form}"],
                    -order[x["field"]],
                    form == "id",
                    x["field"],
                    form,
                )
            )
    candidates.sort(reverse=True)
    best = candidates[0] if candidates and (candidates[0][0] or candidates[0][1]) else None
    return {
        "available": True,
        "erp_invoices": int(total or 0),
        "without_externalid": int(without_externalid or 0),
        "fields": found,
        "reference_field": best[4] if best else None,
        "reference_value": best[5] if best else None,
        "fields_with_references": [
            x["field"] for x in found if x["resolves_by_id"] or x["resolves_by_number"]
        ],
    }


def payment_keys(landing: Landing) -> dict[str, Any]:
    """ERP payments (CustPymt) by externalid prefix, and whether each names a landed Stripe
    charge or payment intent."""
    if not landing.has("raw_erp", "transaction", "id", "type", "externalid"):
        return {"available": False, "reason": "raw_erp.transaction (externalid) not landed"}
    joins, counts = [], []
    for table, alias in (("charges", "ch"), ("payment_intents", "pi")):
        if landing.has("raw_billing", table, "id"):
            joins.append(
                f"left join {t('raw_billing', table)} as {alias} on tr.externalid = {alias}.id"
            )
            counts.append(f"count({alias}.id)")
        else:
            counts.append("0")
    rows = landing.rows(
        "select case when tr.externalid is null then '(none)' "
        "when tr.externalid like 'ch\\_%' escape '\\' then 'ch_' "
        "when tr.externalid like 'pi\\_%' escape '\\' then 'pi_' else 'other' end, "
        f"count(*), {', '.join(counts)} "
        f"from {t('raw_erp', 'transaction')} as tr {' '.join(joins)} "
        "where tr.type = 'CustPymt' group by 1 order by 1"
    )
    prefixes = {
        r[0]: {
            "payments": int(r[1]),
            "charges_found": int(r[2]),
            "payment_intents_found": int(r[3]),
        }
        for r in rows
    }
    charges = sum(p["charges_found"] for p in prefixes.values())
    intents = sum(p["payment_intents_found"] for p in prefixes.values())
    key = None
    if charges or intents:
        key = "charge" if charges >= intents else "payment_intent"
        if min(charges, intents) > 0.05 * max(charges, intents):
            key = "mixed"
    return {
        "available": True,
        "erp_payments": sum(p["payments"] for p in prefixes.values()),
        "by_prefix": prefixes,
        "charges_found": charges,
        "payment_intents_found": intents,
        "payment_key": key,
    }


def _cadence(dates: list[dt.date]) -> dict[str, Any]:
    if not dates:
        return {"cadence": None, "effective_dates": 0}
    gaps = [(b - a).days for a, b in itertools.pairwise(dates)]
    on_first = sum(1 for d in dates if d.day == 1)
    if all(g == 1 for g in gaps):
        cadence = "daily"
    elif on_first == len(dates) and all(27 <= g <= 31 for g in gaps):
        cadence = "monthly"
    else:
        cadence = "irregular"
    return {
        "cadence": cadence,
        "effective_dates": len(dates),
        "first": dates[0].isoformat(),
        "last": dates[-1].isoformat(),
        "on_the_first_of_month": on_first,
        "gap_days_min": min(gaps) if gaps else None,
        "gap_days_median": statistics.median(gaps) if gaps else None,
        "gap_days_max": max(gaps) if gaps else None,
    }


def fx_rates(landing: Landing, reporting: str, limit: int) -> dict[str, Any]:
    """Rate cadence from `currencyrate.effectivedate` (rates against the reporting currency),
    and the documents whose currency has no rate on or before their date (the as-of rule)."""
    need = ("raw_erp", "currencyrate", "basecurrency", "transactioncurrency", "effectivedate")
    if not (landing.has(*need) and landing.has("raw_erp", "currency", "id", "symbol")):
        return {"available": False, "reason": "raw_erp.currencyrate / currency not landed"}
    cur = t("raw_erp", "currency")
    rates = (
        f"select upper(quote.symbol) as code, r.effectivedate as d "
        f"from {t('raw_erp', 'currencyrate')} as r "
        f"join {cur} as base on r.basecurrency = base.id "
        f"join {cur} as quote on r.transactioncurrency = quote.id "
        f"where upper(base.symbol) = '{reporting.upper()}'"
    )
    dates = [r[0] for r in landing.rows(f"select distinct d from ({rates}) as x order by 1")]
    per_currency = {
        str(code): _cadence(
            [
                r[0]
                for r in landing.rows(
                    f"select distinct d from ({rates}) as x where code = ? order by 1", [code]
                )
            ]
        )["cadence"]
        for (code,) in landing.rows(f"select distinct code from ({rates}) as x order by 1")
    }
    docs = []
    tcols = landing.cols("raw_erp", "transaction")
    if {"type", "currency", "trandate"} <= set(tcols):
        docs.append(
            "select 'erp ' || tr.type as source, upper(c.symbol) as code, "
            "cast(tr.trandate as date) as d "
            f"from {t('raw_erp', 'transaction')} as tr join {cur} as c on tr.currency = c.id"
        )
    icols = landing.cols("raw_billing", "invoices")
    if {"currency", "created"} <= set(icols):
        when = (
            "coalesce(status_transitions__finalized_at, created)"
            if "status_transitions__finalized_at" in icols
            else "created"
        )
        docs.append(
            "select 'billing invoice' as source, upper(currency) as code, "
            f"cast(to_timestamp({when}) as date) as d "  # duckdb: to_timestamp(epoch seconds)
            f"from {t('raw_billing', 'invoices')}"
        )
    missing: list[dict[str, Any]] = []
    as_of_needed = 0
    unknown: list[str] = []
    if docs:
        union = " union all ".join(docs)
        rows = landing.rows(
            f"with docs as ({union}), rates as ({rates}) "
            "select docs.source, docs.code, count(*), "
            "sum(case when not exists (select 1 from rates where rates.code = docs.code "
            "and rates.d <= docs.d) then 1 else 0 end), "
            "sum(case when not exists (select 1 from rates where rates.code = docs.code "
            "and rates.d = docs.d) then 1 else 0 end), "
            "min(case when not exists (select 1 from rates where rates.code = docs.code "
            "and rates.d <= docs.d) then docs.d end) "
            f"from docs where docs.code <> '{reporting.upper()}' group by 1, 2 order by 2, 1"
        )
        for source, code, n, no_rate, no_same_day, first in rows:
            as_of_needed += int(no_same_day or 0) - int(no_rate or 0)
            if no_rate:
                missing.append(
                    {
                        "currency": code,
                        "source": source,
                        "documents": int(n),
                        "without_rate": int(no_rate),
                        "first_date_without_rate": first.isoformat() if first else None,
                    }
                )
        known = {r[0] for r in landing.rows(f"select upper(symbol) from {cur}")}
        unknown = sorted({str(m["currency"]) for m in missing if m["currency"] not in known})
    return {
        "available": True,
        "reporting_currency": reporting.upper(),
        **_cadence(dates),
        "per_currency": per_currency,
        "documents_rated_as_of_an_earlier_day": as_of_needed,
        "currencies_without_rates": sorted({str(m["currency"]) for m in missing}),
        "currencies_unknown_to_erp": unknown,
        "documents_without_rate": missing[:limit],
        "documents_without_rate_left_off": max(0, len(missing) - limit),
    }


def optional_fields(landing: Landing) -> dict[str, Any]:
    """Which optional Stripe fields this company sets: rows with a value per field (a field
    never set lands no column, or an empty one once the raw tables declare it)."""
    fields: dict[str, dict[str, Any]] = {}
    for name, (table, column) in OPTIONAL_STRIPE_FIELDS.items():
        cols = [
            c
            for c in landing.cols("raw_billing", table)
            if (c.startswith(column) if column.endswith("__") else c == column)
        ]
        rows = 0
        for c in cols:
            v = f"cast({q(c)} as varchar)"
            (n,) = landing.one(
                f"select count(*) from {t('raw_billing', table)} "
                f"where {v} is not null and {v} not in ('', '[]', '{{}}')"
            )
            rows = max(rows, int(n))
        fields[name] = {"columns": cols, "rows_with_value": rows}
    return {
        "fields": fields,
        "unused": sorted(n for n, f in fields.items() if not f["rows_with_value"]),
    }


def dlt_source_state(landing: Landing, dataset: str, source: str) -> dict[str, Any]:
    """The newest state dlt saved for `source` in `dataset` (`_dlt_pipeline_state`), or {}."""
    if not landing.has(dataset, "_dlt_pipeline_state", "state", "version"):
        return {}
    rows = landing.rows(
        f"select state from {t(dataset, '_dlt_pipeline_state')} order by version desc limit 1"
    )
    if not rows:
        return {}
    text = str(rows[0][0])
    try:
        doc = json.loads(zlib.decompress(base64.b64decode(text, validate=True)))
    except (binascii.Error, zlib.error, ValueError):
        try:
            doc = json.loads(text)
        except ValueError:
            return {}
    state = ((doc.get("sources") or {}).get(source)) if isinstance(doc, dict) else None
    return state if isinstance(state, dict) else {}


def deleted_records(landing: Landing) -> dict[str, Any]:
    """Whether NetSuite's `deletedrecord` landed (the role has the Deleted Records permission),
    and whether the ingestion's key sweep ran instead (its time is kept in dlt's source state)."""
    sweep = dlt_source_state(landing, "raw_erp", "erp").get("key_sweep") or {}
    last_sweep = sweep.get("last") if isinstance(sweep, dict) else None
    if landing.has("raw_erp", "deletedrecord"):
        (n,) = landing.one(f"select count(*) from {t('raw_erp', 'deletedrecord')}")
        return {
            "landed": True,
            "rows": int(n),
            "key_sweep_last": last_sweep,
            "permission": True,
            "note": "readable: deletions come from deletedrecord",
        }
    permission: bool | None = None
    if not landing.raw_tables().get("raw_erp"):
        note = "raw_erp not landed"
    elif last_sweep:
        permission = False
        note = (
            "not landed, and the key sweep ran (last at "
            f"{last_sweep}): the role lacks the Deleted Records permission (or "
            "SOURCES__ERP__KEY_SWEEP=always), so deletions come from the key sweep"
        )
    else:
        permission = True
        note = (
            "readable, nothing listed yet: no deletion so far, and no key sweep ran (with "
            "SOURCES__ERP__KEY_SWEEP=auto a sweep runs only when the role may not read "
            "deletedrecord; with =never, deletions are not seen at all)"
        )
    return {
        "landed": False,
        "rows": 0,
        "key_sweep_last": last_sweep,
        "permission": permission,
        "note": note,
    }


# --- link coverage ------------------------------------------------------------------------


def _name_key(expr: str) -> str:
    # duckdb: the 'g' flag (Snowflake's regexp_replace replaces every match by default)
    return f"regexp_replace(lower(cast({expr} as varchar)), '[^a-z0-9]', '', 'g')"


def _coverage(pair: str, total: int, methods: dict[str, int]) -> dict[str, Any]:
    matched = sum(methods.values())
    return {
        "pair": pair,
        "records": total,
        "matched": matched,
        "matched_pct": pct(matched, total),
        "methods": {k: v for k, v in methods.items() if v},
    }


def _method_counts(landing: Landing, sql: str) -> tuple[int, dict[str, int]]:
    total = 0
    methods: dict[str, int] = {}
    for method, n in landing.rows(sql):
        total += int(n)
        if method is not None:
            methods[str(method)] = int(n)
    return total, methods


def coverage(
    landing: Landing,
    customer_link: str | None,
    subscription_link: str | None,
    products: dict[str, Any],
    id_pattern: str = CONTRACT_DEFAULTS["stripe_invoice_id_pattern"],
    number_pattern: str = CONTRACT_DEFAULTS["stripe_invoice_number_pattern"],
) -> list[dict[str, Any]]:
    """Link coverage per system pair, from the raw tables: % matched and by which method."""
    out = []
    has_accounts = landing.has("raw_crm", "account", "id", "name")
    acc = t("raw_crm", "account")
    unique_names = _unique_account_names(landing)
    if has_accounts and landing.has("raw_billing", "customers", "id", "name"):
        by_id = (
            f"when left(cast(b.{q(customer_link)} as varchar), 15) in "
            f"(select left(id, 15) from {acc}) then 'id:{customer_link}' "
            if customer_link
            else ""
        )
        total, methods = _method_counts(
            landing,
            f"with names as ({unique_names}) "
            f"select case {by_id}when names.id is not null then 'name' end, count(*) "
            f"from {t('raw_billing', 'customers')} as b "
            f"left join names on {_name_key('b.name')} = names.k group by 1",
        )
        out.append(_coverage("billing customer -> CRM account", total, methods))
    if subscription_link and landing.has("raw_crm", "contract", "id"):
        total, methods = _method_counts(
            landing,
            f"select case when left(cast(s.{q(subscription_link)} as varchar), 15) in "
            f"(select left(id, 15) from {t('raw_crm', 'contract')}) "
            f"then 'id:{subscription_link}' end, count(*) "
            f"from {t('raw_billing', 'subscriptions')} as s group by 1",
        )
        out.append(_coverage("billing subscription -> CRM contract", total, methods))
    ecols = landing.cols("raw_erp", "customer")
    if has_accounts and {"id", "companyname"} <= set(ecols):
        acols = landing.cols("raw_crm", "account")
        whens = []
        if "externalid" in ecols:
            whens.append(
                f"when left(e.externalid, 15) in (select left(id, 15) from {acc}) "
                "then 'externalid' "
            )
        tax = [c for c in ecols if "tax" in c]
        crm_tax = [c for c in acols if "tax" in c]
        if tax and crm_tax:
            whens.append(
                f"when e.{q(tax[0])} in (select {q(crm_tax[0])} from {acc} "
                f"where {q(crm_tax[0])} is not null) then 'tax_id' "
            )
        whens.append("when names.id is not null then 'name' ")
        total, methods = _method_counts(
            landing,
            f"with names as ({unique_names}) "
            f"select case {''.join(whens)}end, count(*) from {t('raw_erp', 'customer')} as e "
            f"left join names on {_name_key('e.companyname')} = names.k group by 1",
        )
        out.append(_coverage("ERP customer -> CRM account", total, methods))
    tcols = landing.cols("raw_erp", "transaction")
    if {"id", "type"} <= set(tcols) and landing.has("raw_billing", "invoices", "id", "number"):
        inv = t("raw_billing", "invoices")
        whens = []
        for f in INVOICE_REFERENCE_CANDIDATES:
            if f not in tcols:
                continue
            v = f"cast(tr.{q(f)} as varchar)"
            whens.append(
                f"when regexp_extract({v}, {_literal(id_pattern)}) in (select id from {inv}) "
                f"then '{'externalid' if f == 'externalid' else f + '_id'}' "
            )
            whens.append(
                f"when regexp_extract({v}, {_literal(number_pattern)}) in "
                f"(select number from {inv} where number is not null) then '{f}_number' "
            )
        total, methods = _method_counts(
            landing,
            f"select case {''.join(whens)}end, count(*) from {t('raw_erp', 'transaction')} as tr "
            "where tr.type = 'CustInvc' group by 1",
        )
        out.append(_coverage("ERP invoice -> billing invoice", total, methods))
    if {"id", "type", "externalid"} <= set(tcols):
        whens = []
        for table, method in (("charges", "charge"), ("payment_intents", "payment_intent")):
            if landing.has("raw_billing", table, "id"):
                whens.append(
                    f"when tr.externalid in (select id from {t('raw_billing', table)}) "
                    f"then '{method}' "
                )
        if (
            whens
            and landing.has("raw_erp", "previoustransactionlink", "previousdoc", "nextdoc")
            and landing.has("raw_billing", "invoices", "id")
        ):
            # a payment keyed otherwise (a bank wire) is tied through the invoices it pays
            whens.append(
                "when tr.id in (select l.nextdoc "
                f"from {t('raw_erp', 'previoustransactionlink')} as l "
                f"join {t('raw_erp', 'transaction')} as i on l.previousdoc = i.id "
                "where i.type = 'CustInvc' and i.externalid in "
                f"(select id from {t('raw_billing', 'invoices')})) then 'invoice' "
            )
        if whens:
            total, methods = _method_counts(
                landing,
                f"select case {''.join(whens)}end, count(*) "
                f"from {t('raw_erp', 'transaction')} as tr where tr.type = 'CustPymt' group by 1",
            )
            out.append(_coverage("ERP payment -> billing charge / payment intent", total, methods))
    if products.get("available"):
        out.append(
            _coverage("billing product -> ERP item", products["products"], products["methods"])
        )
    return out


# --- the dbt models, when built ------------------------------------------------------------


def reason_kind(reason: str) -> str:
    """A reason with its dates and numbers blanked, so reasons that differ only by them count
    together (`no JPY rate effective on or before <date> ...`)."""
    text = re.sub(r"\d{4}-\d{2}-\d{2}([ T][0-9:.+]+)?", "<date>", reason)
    return re.sub(r"(?<![A-Za-z0-9_])\d+(?:[.,]\d+)*(?![A-Za-z0-9_])", "<n>", text)


def built_models(landing: Landing, limit: int) -> dict[str, Any]:
    """Link methods recorded by the core models and the data-quality issues, when built."""
    methods: dict[str, dict[str, dict[str, int]]] = {}
    for (schema, table), cols in sorted(landing.columns.items()):
        if schema != "core":
            continue
        for col in cols:
            if col.endswith("match_method"):
                counts = {
                    str(m) if m is not None else "(null)": int(n)
                    for m, n in landing.rows(
                        f"select {q(col)}, count(*) from {t(schema, table)} "
                        "group by 1 order by 2 desc"
                    )
                }
                methods.setdefault(f"core.{table}", {})[col] = counts
    dq: dict[str, Any] = {"built": False}
    if landing.has("ops", "dq_issues", "issue_type"):
        dq_cols = landing.cols("ops", "dq_issues")
        reason = "reason" if "reason" in dq_cols else "''"
        model = "source_model" if "source_model" in dq_cols else "''"
        rows = landing.rows(
            f"select issue_type, {reason}, {model}, count(*) from {t('ops', 'dq_issues')} "
            "group by 1, 2, 3"
        )
        by_type: Counter[str] = Counter()
        by_model: Counter[tuple[str, str]] = Counter()
        by_reason: Counter[tuple[str, str]] = Counter()
        by_kind: Counter[tuple[str, str]] = Counter()
        for issue_type, text, source_model, n in rows:
            by_type[str(issue_type)] += int(n)
            by_model[(str(issue_type), str(source_model))] += int(n)
            by_reason[(str(issue_type), str(text))] += int(n)
            by_kind[(str(issue_type), reason_kind(str(text)))] += int(n)

        def ranked(counts: Counter[tuple[str, str]], key: str) -> list[dict[str, Any]]:
            items = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
            return [{"issue_type": k[0], key: k[1], "count": n} for k, n in items]

        reasons = ranked(by_reason, "reason")
        dq = {
            "built": True,
            "issues": sum(by_type.values()),
            "by_type": dict(sorted(by_type.items())),
            "by_source_model": ranked(by_model, "source_model"),
            "by_reason_kind": ranked(by_kind, "reason"),
            "by_reason": reasons[:limit],
            "by_reason_left_off": max(0, len(reasons) - limit),
        }
    return {
        "built": any(schema == "core" for schema, _ in landing.columns),
        "match_methods": methods,
        "dq_issues": dq,
    }


# --- suggestions ---------------------------------------------------------------------------


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
            if len(links[cands_key]) > 1:
                dbt_vars[var] = detected
                why[var] = (
                    f"several columns hold Salesforce ids ({', '.join(links[cands_key])}); "
                    f"{detected} resolves the most"
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
        lines.append(f"  # {why.get(name, '')}".rstrip())
        lines.append(f"  {name}: {_yaml_value(value)}")
    for name, value in optional.items():
        lines.append(f"  # optional: {why.get(name, '')}".rstrip())
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


# --- the report ----------------------------------------------------------------------------


def diagnose(
    landing: Landing, defaults: dict[str, Any] | None = None, limit: int = 20
) -> dict[str, Any]:
    """The whole report as plain data (JSON-ready).

    Args:
        landing: the open warehouse.
        defaults: the convention vars in force (default: dbt_project.yml over the contract).
        limit: how many items a list shows before it says how many it left off.

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
    customer_link = _effective_link(
        landing,
        "customers",
        defaults["billing_customer_crm_link"],
        links["billing_customer_crm_link"],
    )
    subscription_link = _effective_link(
        landing,
        "subscriptions",
        defaults["billing_subscription_crm_link"],
        links["billing_subscription_crm_link"],
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
        elif value is None:
            text = "-"
        else:
            text = str(value)
        out.append((label, text))
    return out


# --- rendering -----------------------------------------------------------------------------


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
