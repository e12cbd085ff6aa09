"""Link coverage per system pair from the raw tables, and what the built dbt models recorded."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from closeloop.doctor.conventions import INVOICE_REFERENCE_CANDIDATES
from closeloop.doctor.defaults import CONTRACT_DEFAULTS
from closeloop.doctor.landing import (
    Landing,
    Link,
    literal,
    name_key,
    pct,
    q,
    t,
    unique_account_names,
)


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
    customer_link: Link | None,
    subscription_link: Link | None,
    products: dict[str, Any],
    id_pattern: str = CONTRACT_DEFAULTS["stripe_invoice_id_pattern"],
    number_pattern: str = CONTRACT_DEFAULTS["stripe_invoice_number_pattern"],
) -> list[dict[str, Any]]:
    """Link coverage per system pair, from the raw tables: % matched and by which method."""
    out = []
    has_accounts = landing.has("raw_crm", "account", "id", "name")
    acc = t("raw_crm", "account")
    unique_names = unique_account_names(landing)
    if has_accounts and landing.has("raw_billing", "customers", "id", "name"):
        by_id = (
            f"when left({customer_link.value('b')}, 15) in "
            f"(select left(id, 15) from {acc}) then 'id:' || {customer_link.column('b')} "
            if customer_link
            else ""
        )
        total, methods = _method_counts(
            landing,
            f"with names as ({unique_names}) "
            f"select case {by_id}when names.id is not null then 'name' end, count(*) "
            f"from {t('raw_billing', 'customers')} as b "
            f"left join names on {name_key('b.name')} = names.k group by 1",
        )
        out.append(_coverage("billing customer -> CRM account", total, methods))
    if subscription_link and landing.has("raw_crm", "contract", "id"):
        total, methods = _method_counts(
            landing,
            f"select case when left({subscription_link.value('s')}, 15) in "
            f"(select left(id, 15) from {t('raw_crm', 'contract')}) "
            f"then 'id:' || {subscription_link.column('s')} end, count(*) "
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
            f"left join names on {name_key('e.companyname')} = names.k group by 1",
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
                f"when regexp_extract({v}, {literal(id_pattern)}) in (select id from {inv}) "
                f"then '{'externalid' if f == 'externalid' else f + '_id'}' "
            )
            whens.append(
                f"when regexp_extract({v}, {literal(number_pattern)}) in "
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
        if whens and "otherrefnum" in tcols:
            # a payment a retry posted twice has no externalid (NetSuite refuses it twice): it
            # names its charge where the integration writes the key (payment_duplicate_in_erp)
            for table, method in (("charges", "charge"), ("payment_intents", "payment_intent")):
                if landing.has("raw_billing", table, "id"):
                    whens.append(
                        f"when tr.otherrefnum in (select id from {t('raw_billing', table)}) "
                        f"then '{method}_otherrefnum' "
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
