"""The simulated company: determinism, ground truth, agreement across systems, ledger, advance."""

from __future__ import annotations

import bisect
import csv
import hashlib
import json
import re
import sqlite3
from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest

from sandbox import schema
from sandbox.generator import SCALES, advance, generate
from tests.contract import EXCEPTION_TYPES

EXP = {"usd": 2, "eur": 2, "gbp": 2, "jpy": 0, "kwd": 3}


def _major(minor: int, cur: str) -> Decimal:
    return Decimal(minor).scaleb(-EXP[cur.lower()])


def _text(minor: int, cur: str) -> str:
    e = EXP[cur.lower()]
    return str(_major(minor, cur).quantize(Decimal(1).scaleb(-e)))


def _day(t: int) -> str:
    return datetime.fromtimestamp(t, UTC).date().isoformat()


def _month(t: int) -> str:
    return _day(t)[:7]


class Sandbox:
    """Read access to one generated sandbox."""

    def __init__(self, root: Path) -> None:
        self.paths = schema.SandboxPaths(root)
        self.crm = sqlite3.connect(self.paths.crm)
        self.billing = sqlite3.connect(self.paths.billing)
        self.erp = sqlite3.connect(self.paths.erp)
        self.gt = [json.loads(x) for x in self.paths.ground_truth.read_text().splitlines()]
        self.manifest = json.loads(self.paths.manifest.read_text())
        # the conventions the data follows (sandbox/profiles/*.toml, resolved)
        self.profile = json.loads(self.paths.profile.read_text())
        billing, erp, crm = self.profile["billing"], self.profile["erp"], self.profile["crm"]
        self.cust_key = billing["customer_link_key"]
        self.sub_key = billing["subscription_link_key"]
        self.ref_field = erp["invoice_reference_field"]
        self.ref_value = erp["invoice_reference_value"]
        self.payment_key = erp["payment_key"]
        #: Account.Type values a real customer may have (a stale picklist keeps prospect values)
        self.customer_types = set(crm["customer_types"])
        if crm["stale_customer_share"]:
            self.customer_types |= set(crm["prospect_types"])
        self._rates: dict[str, tuple[list[str], list[Decimal]]] | None = None
        self._charges: dict[str, dict[str, Any]] | None = None

    def docs(self, table: str, where: str = "1=1") -> list[dict[str, Any]]:
        return [
            json.loads(r[0]) for r in self.billing.execute(f"select doc from {table} where {where}")
        ]

    def erp_rows(self, sql: str, args: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        cur = self.erp.execute(sql, args)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur]

    def crm_rows(self, sql: str, args: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        cur = self.crm.execute(sql, args)
        names = [d[0] for d in cur.description]
        return [dict(zip(names, r, strict=True)) for r in cur]

    def usd_rate(self, currency: str, day: str) -> Decimal:
        """USD per unit of currency on a day: the rate effective on or before it."""
        if self._rates is None:
            self._rates = {}
            for r in self.erp_rows(
                "select c.symbol, r.effectivedate, r.exchangerate from currencyrate r"
                " join currency c on c.id = r.transactioncurrency where r.basecurrency = 1"
                " order by r.effectivedate"
            ):
                days, rates = self._rates.setdefault(r["symbol"], ([], []))
                days.append(r["effectivedate"])
                rates.append(Decimal(str(r["exchangerate"])))
        days, rates = self._rates[currency]
        k = bisect.bisect_right(days, day) - 1
        assert k >= 0, f"no {currency} rate on or before {day}"
        return rates[k]

    def payment_ref(self, charge_id: str) -> str:
        """The externalid the ERP payment of a charge carries (charge or payment intent id)."""
        if self.payment_key == "charge":
            return charge_id
        if self._charges is None:
            self._charges = {d["id"]: d for d in self.docs("charges")}
        return str(self._charges[charge_id]["payment_intent"])

    def ledger(self) -> dict[tuple[str, str, str], tuple[str, str]]:
        with self.paths.ledger.open() as fh:
            return {
                (r["month"], r["currency"], r["metric"]): (r["amount"], r["amount_usd"])
                for r in csv.DictReader(fh)
            }

    def close(self) -> None:
        for con in (self.crm, self.billing, self.erp):
            con.close()


@pytest.fixture(scope="module")
def sbx(tmp_path_factory: pytest.TempPathFactory) -> Any:
    root = tmp_path_factory.mktemp("gen") / "sandbox"
    generate(schema.SandboxPaths(root), seed=42, scale="small")
    s = Sandbox(root)
    yield s
    s.close()


def _fingerprint(root: Path) -> dict[str, str]:
    out = {}
    for db in (schema.CRM_DB, schema.BILLING_DB, schema.ERP_DB):
        con = sqlite3.connect(root / db)
        tables = [
            r[0]
            for r in con.execute("select name from sqlite_master where type='table' order by 1")
        ]
        for t in tables:
            h = hashlib.sha256()
            for row in con.execute(f'select * from "{t}" order by 1, 2'):
                h.update(repr(row).encode())
            out[f"{db}:{t}"] = h.hexdigest()
        con.close()
    for name in (schema.GROUND_TRUTH, schema.LEDGER, schema.XREF_TRUTH):
        out[name] = hashlib.sha256((root / name).read_bytes()).hexdigest()
    return out


def test_scales_are_declared() -> None:
    assert {"small", "medium", "large"} <= set(SCALES)
    assert SCALES["small"].customers < SCALES["medium"].customers < SCALES["large"].customers


def test_same_seed_same_bytes_other_seed_differs(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    ma = generate(schema.SandboxPaths(a), seed=7, customers=80)
    mb = generate(schema.SandboxPaths(b), seed=7, customers=80)
    generate(schema.SandboxPaths(c), seed=8, customers=80)
    assert ma == mb
    fa, fb, fc = _fingerprint(a), _fingerprint(b), _fingerprint(c)
    assert fa == fb
    assert fa["billing.sqlite:invoices"] != fc["billing.sqlite:invoices"]
    assert fa[schema.GROUND_TRUTH] != fc[schema.GROUND_TRUTH]


def test_generate_replaces_existing_sandbox(tmp_path: Path) -> None:
    paths = schema.SandboxPaths(tmp_path / "s")
    generate(paths, seed=1, customers=40)
    m = generate(paths, seed=1, customers=40)
    con = sqlite3.connect(paths.billing)
    assert con.execute("select count(*) from invoices").fetchone()[0] == m["counts"]["invoices"]
    con.close()


def test_manifest(sbx: Sandbox) -> None:
    m = sbx.manifest
    assert m["clock"] == "2026-11-01T00:00:00Z"
    assert m["start"] == "2024-11-01T00:00:00Z"
    assert (m["seed"], m["scale"], m["discrepancy_rate"]) == (42, "small", 0.03)
    assert m["profile"] == sbx.profile["name"] == "classic"
    assert m["counts"]["invoices"] > 1000 and m["counts"]["Account"] > 250
    assert m["generator_version"]


def test_every_exception_type_is_injected(sbx: Sandbox) -> None:
    types = {g["exception_type"] for g in sbx.gt}
    assert types == EXCEPTION_TYPES
    ids = [g["id"] for g in sbx.gt]
    assert len(ids) == len(set(ids))
    known = set(ids)
    assert all(g["caused_by"] in known for g in sbx.gt if g["caused_by"])
    roots = [g for g in sbx.gt if not g["caused_by"]]
    invoices = sbx.manifest["counts"]["invoices"]
    inv_faults = [g for g in roots if g["exception_type"].startswith("invoice_")]
    assert 0.015 < len(inv_faults) / invoices < 0.05


def _erp_invoices(sbx: Sandbox) -> dict[str, list[dict[str, Any]]]:
    """ERP invoices by the Stripe invoice id their reference (the profile's field) names."""
    by_number = {d["number"]: d["id"] for d in sbx.docs("invoices")}
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in sbx.erp_rows("select * from \"transaction\" where type = 'CustInvc'"):
        ref = r[sbx.ref_field]
        out[by_number[ref] if sbx.ref_value == "number" else ref].append(r)
    return out


def test_ground_truth_is_in_the_data(sbx: Sandbox) -> None:
    invoices = {d["id"]: d for d in sbx.docs("invoices")}
    erp_inv = _erp_invoices(sbx)
    erp_by_ext = {
        r["externalid"]: r for r in sbx.erp_rows('select * from "transaction"') if r["externalid"]
    }
    customers = {d["id"]: d for d in sbx.docs("customers")}
    accounts = {r["Id"]: r for r in sbx.crm_rows('select * from "Account"')}
    erp_customers = {r["id"]: r for r in sbx.erp_rows("select * from customer")}
    erp_cust_ext = {r["externalid"]: r for r in erp_customers.values() if r["externalid"]}
    subs = {d["id"]: d for d in sbx.docs("subscriptions")}
    for g in sbx.gt:
        kind = g["exception_type"]
        if kind == "invoice_missing_in_erp":
            assert g["billing_id"] in invoices
            assert g["billing_id"] not in erp_inv
        elif kind == "invoice_duplicate_in_erp":
            rows = erp_inv[g["billing_id"]]
            assert len(rows) == 2
            dup = next(r for r in rows if str(r["id"]) == g["erp_id"])
            assert dup["externalid"] is None
            # the ground truth names what the integration wrote, where it wrote it
            assert g["field"] == sbx.ref_field and dup[sbx.ref_field] == g["wrong_value"]
        elif kind == "invoice_amount_mismatch":
            inv = invoices[g["billing_id"]]
            row = erp_by_ext[g["billing_id"]]
            assert g["correct_value"] == _text(inv["total"], inv["currency"])
            assert row["foreigntotal"] == g["wrong_value"] != g["correct_value"]
        elif kind == "invoice_currency_mismatch":
            inv = invoices[g["billing_id"]]
            row = erp_by_ext[g["billing_id"]]
            cur = sbx.erp.execute("select symbol from currency where id=?", (row["currency"],))
            assert cur.fetchone()[0] == g["wrong_value"] != inv["currency"].upper()
            assert row["foreigntotal"] == _text(inv["total"], inv["currency"])
        elif kind == "invoice_status_mismatch":
            inv = invoices[g["billing_id"]]
            row = erp_by_ext[g["billing_id"]]
            assert row["status"] == "A"
            assert inv["status"] == {"B": "paid", "V": "void"}[g["correct_value"]]
        elif kind == "payment_missing_in_erp":
            assert g["billing_id"].startswith("ch_")
            assert sbx.payment_ref(g["billing_id"]) not in erp_by_ext
        elif kind == "payment_amount_mismatch":
            ch = sbx.docs("charges", f"id = '{g['billing_id']}'")[0]
            row = erp_by_ext[sbx.payment_ref(g["billing_id"])]
            assert row["type"] == "CustPymt"
            assert g["correct_value"] == _text(ch["amount"], ch["currency"])
            assert row["foreigntotal"] == g["wrong_value"] != g["correct_value"]
        elif kind == "customer_missing_in_billing":
            assert g["billing_id"] is None
            assert all(c["metadata"].get(sbx.cust_key) != g["crm_id"] for c in customers.values())
            assert accounts[g["crm_id"]]["Type"] in sbx.customer_types
        elif kind == "customer_missing_in_erp":
            assert g["crm_id"] not in erp_cust_ext
            assert customers[g["billing_id"]]["metadata"][sbx.cust_key] == g["crm_id"]
        elif kind == "customer_attribute_mismatch":
            assert accounts[g["crm_id"]]["Name"] == g["correct_value"]
            assert erp_customers[int(g["erp_id"])]["companyname"] == g["wrong_value"]
        elif kind == "subscription_missing":
            k = sbx.crm_rows('select * from "Contract" where "Id" = ?', (g["crm_id"],))[0]
            assert k["Status"] == "Activated"
            assert all(s["metadata"][sbx.sub_key] != g["crm_id"] for s in subs.values())
        elif kind == "contract_subscription_mismatch":
            _, code = g["field"].split(":")
            terms = _latest_terms(sbx, g["crm_id"])
            assert str(terms[code]) == g["correct_value"]
            sub = next(s for s in subs.values() if s["metadata"][sbx.sub_key] == g["crm_id"])
            qty = {it["price"]["product"]: it["quantity"] for it in sub["items"]["data"]}.get(
                _product_id(sbx, code), 0
            )
            assert str(qty) == g["wrong_value"] != g["correct_value"]


def _product_codes(sbx: Sandbox) -> dict[str, str]:
    """Stripe product id -> CRM ProductCode, by name (a profile may carry no code in Stripe)."""
    code_of = {r[0]: r[1] for r in sbx.crm.execute('select "Name", "ProductCode" from "Product2"')}
    return {d["id"]: code_of[d["name"]] for d in sbx.docs("products")}


def _product_id(sbx: Sandbox, code: str) -> str:
    return next(pid for pid, c in _product_codes(sbx).items() if c == code)


def _latest_terms(sbx: Sandbox, contract_id: str) -> dict[str, int]:
    opps = sbx.crm_rows(
        'select "Id" from "Opportunity" where "ContractId" = ? and "IsWon" = 1 and "IsDeleted" = 0'
        ' order by "CloseDate" desc, "CreatedDate" desc, "Id" desc',
        (contract_id,),
    )
    lines = sbx.crm_rows(
        'select p."ProductCode" code, l."Quantity" q from "OpportunityLineItem" l'
        ' join "Product2" p on p."Id" = l."Product2Id" where l."OpportunityId" = ?',
        (opps[0]["Id"],),
    )
    return {r["code"]: int(r["q"]) for r in lines}


def test_everything_not_injected_agrees(sbx: Sandbox) -> None:
    _check_agreement(sbx)


def _check_agreement(sbx: Sandbox) -> None:
    faulted = {g["billing_id"] for g in sbx.gt} | {g["crm_id"] for g in sbx.gt}
    customers = {d["id"]: d for d in sbx.docs("customers")}
    cust_erp: dict[str | None, list[dict[str, Any]]] = {}
    for r in sbx.erp_rows("select * from customer"):
        # a second currency's ERP customer is keyed `<account id>-<currency>`
        # (billing.multi_currency_share): it is the account's too
        key = r["externalid"].split("-")[0] if r["externalid"] else None
        cust_erp.setdefault(key, []).append(r)
    cur_sym = {r["id"]: r["symbol"] for r in sbx.erp_rows("select id, symbol from currency")}
    erp_inv = _erp_invoices(sbx)
    status_map = {"open": "A", "uncollectible": "A", "paid": "B", "void": "V"}
    checked = 0
    for inv in sbx.docs("invoices"):
        cust = customers[inv["customer"]]
        acct = cust["metadata"].get(sbx.cust_key)
        if inv["id"] in faulted or acct in faulted or inv["charge"] in faulted:
            continue  # a missing payment leaves the ERP invoice open: not a separate fault
        if acct is None or acct not in cust_erp:
            continue
        rows = erp_inv[inv["id"]]
        assert len(rows) == 1, inv["id"]
        row = rows[0]
        assert row["externalid"] == inv["id"]
        assert row["foreigntotal"] == _text(inv["total"], inv["currency"])
        assert cur_sym[row["currency"]] == inv["currency"].upper()
        assert row["status"] == status_map[inv["status"]], inv["id"]
        assert row["trandate"] == _day(inv["status_transitions"]["finalized_at"])
        lines = sbx.erp_rows(
            'select * from transactionline where "transaction" = ? order by id', (row["id"],)
        )
        assert lines[0]["mainline"] == "T" and lines[0]["foreignamount"] == row["foreigntotal"]
        assert len(lines) == inv["lines"]["total_count"] + 1
        assert row["createddate"] < sbx.manifest["clock"].replace("T", " ")
        checked += 1
    assert checked > 500
    charges = sbx.docs("charges", "json_extract(doc, '$.status') = 'succeeded'")
    pay = {
        r["externalid"]: r
        for r in sbx.erp_rows("select * from \"transaction\" where type='CustPymt'")
    }
    for ch in charges:
        if ch["id"] in faulted or ch["invoice"] in faulted:
            continue
        acct = customers[ch["customer"]]["metadata"].get(sbx.cust_key)
        if acct in faulted:
            continue
        assert pay[sbx.payment_ref(ch["id"])]["foreigntotal"] == _text(ch["amount"], ch["currency"])
    accounts = {r["Id"]: r for r in sbx.crm_rows('select * from "Account"')}
    for acct, erp_rows in cust_erp.items():
        if acct and acct not in faulted:
            for row in erp_rows:
                assert row["companyname"] == accounts[acct]["Name"]
    for sub in sbx.docs("subscriptions", "status in ('active', 'past_due')"):
        k = sub["metadata"][sbx.sub_key]
        if k in faulted:
            continue
        terms = _latest_terms(sbx, k)
        products = _product_codes(sbx)
        have = {products[it["price"]["product"]]: it["quantity"] for it in sub["items"]["data"]}
        assert have == terms, k


def test_xref_truth(sbx: Sandbox) -> None:
    with sbx.paths.xref_truth.open() as fh:
        rows = list(csv.DictReader(fh))
    assert {r["link_billing"] for r in rows} == {"id", "fuzzy", "missing"}
    assert {r["link_erp"] for r in rows} == {"id", "fuzzy", "missing"}
    customers = {d["id"]: d for d in sbx.docs("customers")}
    erp = {str(r["id"]): r for r in sbx.erp_rows("select * from customer")}
    for r in rows:
        if r["link_billing"] == "fuzzy":
            assert sbx.cust_key not in customers[r["billing_customer_id"]]["metadata"]
        if r["link_erp"] == "fuzzy":
            assert erp[r["erp_customer_id"]]["externalid"] is None
            assert erp[r["erp_customer_id"]]["custentity_cl_tax_id"]


def test_jpy_has_no_minor_unit(sbx: Sandbox) -> None:
    jpy = sbx.docs("invoices", "json_extract(doc, '$.currency') = 'jpy'")
    assert jpy
    for inv in jpy:
        assert isinstance(inv["total"], int)
        assert all(isinstance(x["amount"], int) for x in inv["lines"]["data"])
    prices = sbx.docs("prices", "currency = 'jpy'")
    assert prices and all(p["unit_amount"] >= 30 for p in prices)  # whole yen, not sen
    lines = sbx.erp_rows(
        "select l.foreignamount, l.rate from transactionline l"
        ' join "transaction" t on t.id = l."transaction" where t.currency = 4'
    )
    assert all("." not in (r["foreignamount"] + (r["rate"] or "")) for r in lines)
    rows = sbx.erp_rows('select foreigntotal from "transaction" where currency = 4')
    assert rows and all("." not in r["foreigntotal"] for r in rows)
    assert all(
        "." not in r["amount"]
        for (_, cur, _), r in ((k, {"amount": v[0]}) for k, v in sbx.ledger().items())
        if cur == "JPY"
    )


def test_long_invoices_page_their_lines(sbx: Sandbox) -> None:
    long = sbx.docs("invoices", "json_extract(doc, '$.lines.has_more') = 1")
    assert long
    for inv in long[:5]:
        n = sbx.billing.execute(
            "select count(*) from invoice_lines where invoice = ?", (inv["id"],)
        ).fetchone()[0]
        assert len(inv["lines"]["data"]) == 10 < n == inv["lines"]["total_count"]
        assert inv["lines"]["url"] == f"/v1/invoices/{inv['id']}/lines"


def test_proration_lines_and_wires(sbx: Sandbox) -> None:
    lines = [json.loads(r[0]) for r in sbx.billing.execute("select doc from invoice_lines")]
    pro = [x for x in lines if x["proration"]]
    assert any(x["amount"] < 0 and x["description"].startswith("Unused time") for x in pro)
    assert any(x["amount"] > 0 and x["description"].startswith("Remaining time") for x in pro)
    oob = sbx.docs("invoices", "json_extract(doc, '$.paid_out_of_band') = 1")
    assert oob and all(i["charge"] is None and i["status"] == "paid" for i in oob)
    multi = sbx.erp.execute(
        "select nextdoc from previoustransactionlink group by nextdoc having count(*) > 1"
    ).fetchall()
    assert multi
    ext = sbx.erp.execute(
        'select externalid from "transaction" where id = ?', (multi[0][0],)
    ).fetchone()[0]
    assert ext.startswith("wire-")


def test_crm_formats(sbx: Sandbox) -> None:
    pat = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000\+0000$")
    for obj in schema.CRM_FIELDS:
        for r in sbx.crm_rows(f'select * from "{obj}"'):
            assert len(r["Id"]) == 18 and r["Id"][:3] == schema.CRM_KEY_PREFIX[obj]
            assert pat.match(r["LastModifiedDate"]) and pat.match(r["SystemModstamp"])
            assert r["SystemModstamp"] >= r["LastModifiedDate"] >= r["CreatedDate"]
    opps = sbx.crm_rows("select * from \"Opportunity\" where \"Type\" in ('Upsell', 'Downgrade')")
    assert opps and all(o["ContractId"] and o["IsWon"] == 1 for o in opps)


def _round_cents(x: Decimal) -> Decimal:
    return x.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def test_ledger_matches_the_documents(sbx: Sandbox) -> None:
    ledger = sbx.ledger()
    # the ledger's currencies: the four of every sandbox, KWD where the profile bills in it
    currencies = sorted({cur for (_, cur, _) in ledger} - {"ALL"})

    def usd(minor: int, cur: str, day: str) -> Decimal:
        if cur == "usd":
            return _major(minor, cur)
        return _round_cents(_major(minor, cur) * sbx.usd_rate(cur.upper(), day))

    billings: dict[tuple[str, str], list[Decimal]] = defaultdict(lambda: [Decimal(0)] * 2)
    voided: dict[tuple[str, str], list[Decimal]] = defaultdict(lambda: [Decimal(0)] * 2)
    written_off: dict[tuple[str, str], list[Decimal]] = defaultdict(lambda: [Decimal(0)] * 2)
    collections: dict[tuple[str, str], list[Decimal]] = defaultdict(lambda: [Decimal(0)] * 2)
    invoices = sbx.docs("invoices")
    for inv in invoices:
        # gross billings at finalization; a void reverses in its own month, at the invoice's rate
        fin = inv["status_transitions"]["finalized_at"]
        cell = billings[(_month(fin), inv["currency"].upper())]
        cell[0] += _major(inv["total"], inv["currency"])
        cell[1] += usd(inv["total"], inv["currency"], _day(fin))
        if inv["status_transitions"]["voided_at"]:
            cell = voided[(_month(inv["status_transitions"]["voided_at"]), inv["currency"].upper())]
            cell[0] += _major(inv["total"], inv["currency"])
            cell[1] += usd(inv["total"], inv["currency"], _day(fin))
        # a write-off takes what was still owed (nothing is paid before it here), at its own rate
        if inv["status_transitions"]["marked_uncollectible_at"]:
            off = inv["status_transitions"]["marked_uncollectible_at"]
            cell = written_off[(_month(off), inv["currency"].upper())]
            cell[0] += _major(inv["total"], inv["currency"])
            cell[1] += usd(inv["total"], inv["currency"], _day(fin))
        if inv["paid_out_of_band"]:
            paid = inv["status_transitions"]["paid_at"]
            cell = collections[(_month(paid), inv["currency"].upper())]
            cell[0] += _major(inv["total"], inv["currency"])
            cell[1] += usd(inv["total"], inv["currency"], _day(paid))
    for ch in sbx.docs("charges", "json_extract(doc, '$.status') = 'succeeded'"):
        cell = collections[(_month(ch["created"]), ch["currency"].upper())]
        cell[0] += _major(ch["amount"], ch["currency"])
        cell[1] += usd(ch["amount"], ch["currency"], _day(ch["created"]))
    for (month, cur), (amount, amount_usd) in billings.items():
        assert Decimal(ledger[(month, cur, "billings")][0]) == amount, (month, cur)
        assert Decimal(ledger[(month, cur, "billings")][1]) == amount_usd, (month, cur)
    # every company voids or writes off some invoices (a profile may do only one of the two)
    assert voided or written_off
    for (month, cur), (amount, amount_usd) in voided.items():
        assert Decimal(ledger[(month, cur, "billings_voided")][0]) == amount, (month, cur)
        assert Decimal(ledger[(month, cur, "billings_voided")][1]) == amount_usd, (month, cur)
    for (month, cur), (amount, amount_usd) in written_off.items():
        assert Decimal(ledger[(month, cur, "ar_written_off")][0]) == amount, (month, cur)
        assert Decimal(ledger[(month, cur, "ar_written_off")][1]) == amount_usd, (month, cur)
    for (month, cur, metric), texts in ledger.items():
        if metric in ("billings_net", "collections_net"):
            gross, less = (
                ("billings", ("billings_voided", "credit_notes"))
                if metric == "billings_net"
                else ("collections", ("refunds",))
            )
            for i, figure in enumerate(texts):
                expected = Decimal(ledger[(month, cur, gross)][i] or 0) - sum(
                    Decimal(ledger[(month, cur, m)][i] or 0) for m in less
                )
                assert Decimal(figure or 0) == expected, (month, cur, metric)
    for (month, cur), (amount, amount_usd) in collections.items():
        assert Decimal(ledger[(month, cur, "collections")][0]) == amount, (month, cur)
        assert Decimal(ledger[(month, cur, "collections")][1]) == amount_usd, (month, cur)
    # open AR at every month end, from the status transitions
    months = sorted({m for (m, _, _) in ledger})
    for month in months:
        y, mo = int(month[:4]), int(month[5:])
        boundary = int(
            datetime(y + (mo == 12), 1 if mo == 12 else mo + 1, 1, tzinfo=UTC).timestamp()
        )
        ar: dict[str, Decimal] = defaultdict(Decimal)
        for inv in invoices:
            st = inv["status_transitions"]
            if st["finalized_at"] >= boundary:
                continue
            ends = [st[k] for k in ("paid_at", "voided_at", "marked_uncollectible_at") if st[k]]
            if ends and min(ends) < boundary:
                continue
            ar[inv["currency"].upper()] += _major(inv["total"], inv["currency"])
        for cur in currencies:
            assert Decimal(ledger[(month, cur, "open_ar")][0]) == ar[cur], (month, cur)
    # MRR at the last month end (= the clock) from the live subscriptions (docs/metrics.md):
    # each subscription's period amount over the months of interval x interval_count, rounded
    # once half away from zero
    last = months[-1]
    mrr: dict[str, int] = defaultdict(int)
    for sub in sbx.docs("subscriptions", "status in ('active', 'past_due', 'unpaid')"):
        period, months_in = 0, 1
        for it in sub["items"]["data"]:
            p = it["price"]
            period += p["unit_amount"] * it["quantity"]
            rec = p["recurring"]
            months_in = rec["interval_count"] * (12 if rec["interval"] == "year" else 1)
        q, r = divmod(period, months_in)
        mrr[sub["currency"]] += q + (1 if 2 * r >= months_in else 0)
    for cur in (c.lower() for c in currencies):
        assert ledger[(last, cur.upper(), "mrr")][0] == _text(mrr[cur], cur)
    # movements add up month over month
    prev = {c: Decimal(0) for c in currencies}
    for month in months:
        for cur in prev:
            moves = sum(
                Decimal(ledger[(month, cur, m)][0])
                for m in (
                    "mrr_new",
                    "mrr_expansion",
                    "mrr_contraction",
                    "mrr_churn",
                    "mrr_reactivation",
                )
            )
            now = Decimal(ledger[(month, cur, "mrr")][0])
            assert prev[cur] + moves == now, (month, cur)
            prev[cur] = now
    total = sum(Decimal(ledger[(last, c, "mrr")][1]) for c in prev)
    assert Decimal(ledger[(last, "ALL", "mrr")][1]) == total
    assert ledger[(last, "ALL", "mrr")][0] == ""


def test_events_cover_the_last_30_days(sbx: Sandbox) -> None:
    clock = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp())
    rows = sbx.billing.execute("select min(created), max(created) from events").fetchone()
    assert rows[0] >= clock - 30 * 86400 and rows[1] < clock
    types = {r[0] for r in sbx.billing.execute("select distinct type from events")}
    assert {"invoice.created", "invoice.paid", "charge.succeeded", "customer.created"} <= types
    ev = sbx.docs("events", "type = 'invoice.paid'")[0]
    assert ev["api_version"] == schema.STORED_STRIPE_VERSION
    assert ev["data"]["previous_attributes"]["status"] == "open"
    assert ev["data"]["object"]["status"] == "paid"


def test_advance_moves_the_clock(tmp_path: Path) -> None:
    paths = schema.SandboxPaths(tmp_path / "s")
    generate(paths, seed=5, scale="small")
    before = Sandbox(paths.root)
    open_ids = {
        r[0] for r in before.billing.execute("select id from invoices where status = 'open'")
    }
    counts = before.manifest["counts"]
    gt_before = len(before.gt)
    # a reverse-ETL style correction in the ERP must survive advance
    fix = next(g for g in before.gt if g["exception_type"] == "invoice_amount_mismatch")
    before.erp.execute(
        'update "transaction" set foreigntotal = ? where id = ?',
        (fix["correct_value"], int(fix["erp_id"])),
    )
    before.erp.commit()
    before.close()
    m = advance(paths, days=20)
    assert m["clock"] == "2026-11-21T00:00:00Z"
    after = Sandbox(paths.root)
    assert m["counts"]["invoices"] > counts["invoices"]
    assert m["counts"]["transaction"] > counts["transaction"]
    paid_now = {
        r[0]
        for r in after.billing.execute("select id from invoices where status = 'paid'")
        if r[0] in open_ids
    }
    assert paid_now
    paid_events = {
        json.loads(r[0])["data"]["object"]["id"]
        for r in after.billing.execute("select doc from events where type = 'invoice.paid'")
    }
    assert paid_now & paid_events
    clock = int(datetime(2026, 11, 21, tzinfo=UTC).timestamp())
    oldest = after.billing.execute("select min(created) from events").fetchone()[0]
    assert oldest >= clock - 30 * 86400
    deleted = after.crm.execute(
        'select count(*) from "Opportunity" where "IsDeleted" = 1 and "SystemModstamp" >= ?',
        ("2026-11-01",),
    ).fetchone()[0]
    assert deleted >= 1
    assert len(after.gt) >= gt_before
    row = after.erp.execute(
        'select foreigntotal from "transaction" where id = ?', (int(fix["erp_id"]),)
    ).fetchone()
    assert row[0] == fix["correct_value"]
    ledger = after.ledger()
    assert ("2026-11", "ALL", "billings") in ledger
    _check_agreement(after)
    after.close()


def test_advance_is_deterministic(tmp_path: Path) -> None:
    prints = []
    for name in ("a", "b"):
        paths = schema.SandboxPaths(tmp_path / name)
        generate(paths, seed=9, customers=60, end=date(2026, 6, 1), months=12)
        advance(paths, days=5)
        prints.append(_fingerprint(paths.root))
    assert prints[0] == prints[1]


def test_activated_contracts_have_exactly_one_live_subscription(sbx: Sandbox) -> None:
    faulted = {g["crm_id"] for g in sbx.gt if g["exception_type"] == "subscription_missing"}
    live: dict[str, int] = defaultdict(int)
    for sub in sbx.docs("subscriptions", "status in ('active', 'past_due')"):
        live[sub["metadata"][sbx.sub_key]] += 1
    contracts = sbx.crm_rows('select "Id", "Status" from "Contract"')
    assert {k["Status"] for k in contracts} == {"Activated", "Draft", "Expired"}
    for k in contracts:
        expected = 0 if k["Id"] in faulted or k["Status"] != "Activated" else 1
        assert live[k["Id"]] == expected, k


def test_fast_ids_equal_the_shared_ids() -> None:
    from sandbox.generator.fastids import fast_stripe_id
    from sandbox.ids import stripe_id

    for n in range(0, 50_000, 7):
        assert fast_stripe_id("in", n, 42) == stripe_id("in", n, 42)
