"""What the landing says about each convention, with the counts that show it."""

from __future__ import annotations

import datetime as dt
import itertools
import re
import statistics
from collections import Counter
from typing import Any

from closeloop.doctor.defaults import CONTRACT_DEFAULTS
from closeloop.doctor.landing import (
    Landing,
    Link,
    dlt_source_state,
    literal,
    name_key,
    not_deleted,
    pct,
    q,
    sf_id_test,
    t,
    unique_account_names,
)

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


def effective_link(landing: Landing, table: str, configured: Any, prefix: str) -> Link | None:
    """The link the models read under the settings in force: the configured column (None when
    it has not landed: the models then find no id link), else (auto) every landed `metadata__*`
    column, in landed order, per record the first holding a Salesforce id of `prefix`."""
    if isinstance(configured, str) and configured:
        column = configured.lower()
        return Link((column,)) if landing.has("raw_billing", table, column) else None
    columns = tuple(c for c in landing.cols("raw_billing", table) if c.startswith("metadata__"))
    return Link(columns, prefix) if columns else None


def link_conflicts(landing: Landing, table: str, columns: list[str], prefix: str) -> int:
    """Records on which two of `columns` hold different Salesforce ids of `prefix` (auto would
    take the first landed one; pinning the var settles it)."""
    if len(columns) < 2:
        return 0
    ids = [f"cast({q(c)} as varchar)" for c in columns]
    pairs = [
        f"({sf_id_test(a, prefix)} and {sf_id_test(b, prefix)} and left({a}, 15) <> left({b}, 15))"
        for n, a in enumerate(ids)
        for b in ids[n + 1 :]
    ]
    (n,) = landing.one(f"select count(*) from {t('raw_billing', table)} where {' or '.join(pairs)}")
    return int(n)


def _billing_account_links(landing: Landing, customer_link: Link | None) -> str:
    """SQL: each Stripe customer's CRM account (`customer_id`, `k` = its 15-character id), by
    the link, else by a normalized name naming one account; "" without customers."""
    if not landing.has("raw_billing", "customers", "id"):
        return ""
    cus = t("raw_billing", "customers")
    parts = []
    linked = customer_link.value("b") if customer_link else "cast(null as varchar)"
    if customer_link:
        parts.append(
            f"select b.id as customer_id, left({linked}, 15) as k "
            f"from {cus} as b where {linked} is not null"
        )
    if landing.has("raw_billing", "customers", "name") and landing.has(
        "raw_crm", "account", "name"
    ):
        parts.append(
            f"select b.id as customer_id, left(n.id, 15) as k from {cus} as b "
            f"join ({unique_account_names(landing)}) as n on {name_key('b.name')} = n.k "
            f"where {linked} is null"
        )
    return " union all ".join(parts)


def customer_rule(
    landing: Landing, customer_link: Link | None, subscription_link: Link | None
) -> dict[str, Any]:
    """Per Account.Type value: how many accounts behave as customers (an activated contract, a
    live subscription linked to them, or a paid invoice)."""
    if not landing.has("raw_crm", "account", "id", "type"):
        return {"available": False, "reason": "raw_crm.account (with type) not landed"}
    parts: dict[str, str] = {}
    if landing.has("raw_crm", "contract", "account_id", "status"):
        parts["contract"] = (
            f"select distinct left(account_id, 15) as k from {t('raw_crm', 'contract')} "
            f"where status = 'Activated' and {not_deleted(landing, 'raw_crm', 'contract')}"
        )
    live = ", ".join(f"'{s}'" for s in LIVE_SUBSCRIPTION_STATUSES)
    links = _billing_account_links(landing, customer_link)
    subs, invs = t("raw_billing", "subscriptions"), t("raw_billing", "invoices")
    by_contract = subscription_link is not None and landing.has("raw_crm", "contract", "id")
    sub_value = subscription_link.value("s") if subscription_link else "null"
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
            f"on left({sub_value}, 15) = left(c.id, 15) "
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
            f"on left({sub_value}, 15) = left(c.id, 15) where {paid}"
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
        f"where {not_deleted(landing, 'raw_crm', 'account', 'a')} "
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
            None
            if not items
            else "none"
            if not external
            else "product_id"
            if all(i[3].startswith("prod_") for i in external)
            else "other"
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
        ids = f"regexp_extract({v}, {literal(id_pattern)})"  # duckdb: regexp_substr elsewhere
        nums = f"regexp_extract({v}, {literal(number_pattern)})"
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
    if not landing.raw_tables().get("raw_billing"):
        return {"available": False, "fields": {}, "unused": []}
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
        "available": True,
        "fields": fields,
        "unused": sorted(n for n, f in fields.items() if not f["rows_with_value"]),
    }


def deleted_records(landing: Landing) -> dict[str, Any]:
    """Whether NetSuite's `deletedrecord` landed (the role has the Deleted Records permission),
    and whether the ingestion's key sweep ran instead (its time is kept in dlt's source state)."""
    from ingestion.sources.erp.settings import KEY_SWEEP_STATE  # the ERP source's state key

    sweep = dlt_source_state(landing, "raw_erp", "erp").get(KEY_SWEEP_STATE) or {}
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


#: an amendment at least this share of its contract's opening Amount restates the whole contract
AMENDMENT_TOTAL_RATIO = 0.6


def opportunity_amendments(landing: Landing) -> dict[str, Any]:
    """How won amendments' Opportunity Amount reads, by the rule of dbt var
    `opportunity_amendment_amount: auto` (docs/metrics.md, "Bookings"): an amendment is a later
    won opportunity on a ContractId an earlier won one opened; `change` when any is negative,
    else `total` when their median is at least 0.6 of the contract's opening Amount, else
    `change`; none without amendments (both readings book the same)."""
    if not landing.has("raw_crm", "opportunity", "id", "contract_id", "is_won", "amount"):
        return {
            "available": False,
            "reason": "raw_crm.opportunity (contract_id, amount) not landed",
        }
    order = ", ".join(
        c for c in ("close_date", "created_date", "id") if landing.has("raw_crm", "opportunity", c)
    )
    window = f"over (partition by contract_id order by {order})"
    n, negative, median = landing.one(
        "with won as (select cast(amount as double) as amount, "
        f"row_number() {window} as seq, first_value(cast(amount as double)) {window} as opening "
        f"from {t('raw_crm', 'opportunity')} "
        "where is_won and contract_id is not null and amount is not null "
        f"and {not_deleted(landing, 'raw_crm', 'opportunity')}) "
        "select count(*), count(*) filter (where amount < 0), "
        "median(amount / nullif(opening, 0)) from won where seq > 1"
    )
    reading = None
    if n:
        if negative:
            reading = "change"
        elif median is None or median >= AMENDMENT_TOTAL_RATIO:
            reading = "total"
        else:
            reading = "change"
    return {
        "available": True,
        "won_amendments": int(n),
        "negative": int(negative),
        "median_ratio_to_opening": None if median is None else round(float(median), 4),
        "amendment_amount": reading,
    }
