"""Sandbox profiles: each company follows its conventions, and its ground truth stays true.

One small generation per shipped profile (a module fixture); the checks read the three SQLite
stores directly. The generic checks of `test_generator` (ground truth in the data, everything
else agreeing, the ledger) run again under each non-classic profile.
"""

from __future__ import annotations

import csv
import itertools
import json
from collections import Counter
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from sandbox import schema
from sandbox.erp import create_app
from sandbox.generator import advance, generate
from sandbox.generator.profile import (
    CLASSIC,
    ProfileError,
    load_profile,
    profile_names,
)
from sandbox.testing import serve
from tests.sandbox import test_generator as gen
from tests.sandbox.test_generator import Sandbox

START = "2024-11-01"
PROFILES = ("classic", "northwind", "meridian")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Any:
    out = {}
    for name in PROFILES:
        root = tmp_path_factory.mktemp(name) / "sandbox"
        generate(schema.SandboxPaths(root), seed=42, scale="small", profile=name)
        out[name] = Sandbox(root)
    yield out
    for s in out.values():
        s.close()


@pytest.fixture(params=["northwind", "meridian"])
def sbx(request: pytest.FixtureRequest, built: dict[str, Sandbox]) -> Sandbox:
    return built[request.param]


# --------------------------------------------------------------- the files and the loader


def test_shipped_profiles_load_and_classic_is_the_default() -> None:
    assert set(PROFILES) <= set(profile_names())
    classic = load_profile("classic").as_json()
    # the file and the built-in defaults agree (the file documents them)
    assert {**classic, "description": ""} == CLASSIC.as_json()
    for name in PROFILES:
        assert load_profile(name).name == name


def test_every_axis_differs_from_classic_somewhere() -> None:
    base = CLASSIC.as_json()
    others = [load_profile(n).as_json() for n in ("northwind", "meridian")]
    for section in ("crm", "billing", "erp"):
        for key, value in base[section].items():
            if key == "stale_customer_share" or key == "denied_tables":
                continue
            assert any(o[section][key] != value for o in others), f"{section}.{key}"
    cadences = {load_profile(n).rate_cadence for n in PROFILES}
    assert cadences == {"daily", "monthly", "irregular"}
    assert any(load_profile(n).stale_customer_share > 0 for n in PROFILES)
    assert any(load_profile(n).denied_tables for n in PROFILES)


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('[crm]\ncustomer_type = ["Customer"]\n', "crm.customer_type: unknown key"),
        ("[ledger]\nx = 1\n", "ledger: unknown key"),
        ('[erp]\nrate_cadence = "weekly"\n', "erp.rate_cadence: expected one of"),
        ('[erp]\npayment_key = "refund"\n', "erp.payment_key"),
        ('[erp]\ndeleted_records_permission = "no"\n', "erp.deleted_records_permission"),
        ('[billing]\nunused_optional_fields = ["invoice.tax"]\n', "unknown field 'invoice.tax'"),
        ('[billing]\ncustomer_link_key = ""\n', "billing.customer_link_key: must not be empty"),
        ("[crm]\nstale_customer_share = 1.5\n", "crm.stale_customer_share"),
        ('[crm]\nprospect_types = ["Customer"]\n', "also in crm.prospect_types"),
        ("[crm]\ncustomer_types = []\n", "crm.customer_types: needs at least one value"),
        ("crm = [\n", "not valid TOML"),
    ],
)
def test_a_bad_profile_file_names_the_file_and_the_key(
    tmp_path: Path, text: str, where: str
) -> None:
    path = tmp_path / "acme.toml"
    path.write_text(text)
    with pytest.raises(ProfileError) as err:
        load_profile(path)
    assert str(path) in str(err.value) and where in str(err.value)


def test_unknown_profile_name_lists_the_shipped_ones() -> None:
    with pytest.raises(ProfileError, match="classic, meridian, northwind"):
        load_profile("acme")


def test_a_partial_file_takes_classic_for_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "acme.toml"
    path.write_text('description = "monthly only"\n[erp]\nrate_cadence = "monthly"\n')
    p = load_profile(str(path))
    assert p.name == "acme" and p.rate_cadence == "monthly"
    assert {**p.as_json()["erp"], "rate_cadence": "daily"} == CLASSIC.as_json()["erp"]
    assert p.as_json()["billing"] == CLASSIC.as_json()["billing"]


def test_classic_equals_the_default_generation(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    generate(schema.SandboxPaths(a), seed=3, customers=50)
    generate(schema.SandboxPaths(b), seed=3, customers=50, profile="classic")
    assert gen._fingerprint(a) == gen._fingerprint(b)
    assert (a / schema.PROFILE).read_text() == (b / schema.PROFILE).read_text()


def test_profile_json_is_written_resolved(built: dict[str, Sandbox]) -> None:
    for name, s in built.items():
        data = json.loads(s.paths.profile.read_text())
        assert data == load_profile(name).as_json()
        assert s.manifest["profile"] == name
        assert set(data) == {"name", "description", "crm", "billing", "erp", "opportunities"}
    assert built["meridian"].profile["erp"]["denied_tables"] == ["deletedrecord"]
    assert built["classic"].profile["erp"]["denied_tables"] == []
    assert built["northwind"].profile["erp"]["denied_tables"] == []


# --------------------------------------------------------------- each axis in the data


def _xref(s: Sandbox) -> list[dict[str, str]]:
    with s.paths.xref_truth.open() as fh:
        return list(csv.DictReader(fh))


def test_account_type_picklist(built: dict[str, Sandbox]) -> None:
    for name, s in built.items():
        p = s.profile["crm"]
        types = {r[0]: r[1] for r in s.crm.execute('select "Id", "Type" from "Account"')}
        customers = {r["crm_account_id"] for r in _xref(s)}
        allowed = set(p["customer_types"]) | set(p["prospect_types"])
        assert set(types.values()) == allowed, name  # every value shows up at small
        labelled = {a for a, t in types.items() if t in p["customer_types"]}
        # a customer value is only ever on a real customer
        assert labelled <= customers, name
        stale = customers - labelled
        if p["stale_customer_share"]:
            # real customers left at a prospect value: only behaviour identifies them
            assert 0.05 < len(stale) / len(customers) < 0.3, name
            assert {types[a] for a in stale} <= set(p["prospect_types"])
        else:
            assert not stale, name


def test_metadata_keys(built: dict[str, Sandbox]) -> None:
    for name, s in built.items():
        b = s.profile["billing"]
        keys = Counter(k for d in s.docs("customers") for k in d["metadata"])
        assert set(keys) == {b["customer_link_key"]}, name
        for d in s.docs("customers"):
            assert all(v.startswith("001") and len(v) == 18 for v in d["metadata"].values())
        for d in s.docs("subscriptions"):
            assert list(d["metadata"]) == [b["subscription_link_key"]], name
            assert d["metadata"][b["subscription_link_key"]].startswith("800")
        codes = {r[0] for r in s.crm.execute('select "ProductCode" from "Product2"')}
        for d in s.docs("products"):
            if b["product_code_key"]:
                assert list(d["metadata"]) == [b["product_code_key"]], name
                assert d["metadata"][b["product_code_key"]] in codes
            else:
                assert d["metadata"] == {}, name


def test_item_externalid(built: dict[str, Sandbox]) -> None:
    for name, s in built.items():
        products = {d["id"] for d in s.docs("products")}
        ext = [r[0] for r in s.erp.execute("select externalid from item")]
        if s.profile["erp"]["item_externalid"] == "product_id":
            assert set(ext) == products, name
        else:
            assert ext and all(e is None for e in ext), name


def _rate_days(s: Sandbox) -> list[date]:
    rows = s.erp.execute(
        "select distinct effectivedate from currencyrate order by effectivedate"
    ).fetchall()
    return [date.fromisoformat(r[0]) for r in rows]


def test_rate_cadence(built: dict[str, Sandbox]) -> None:
    for name, s in built.items():
        days = _rate_days(s)
        assert days[0] <= date.fromisoformat(START), name
        # every entered day has a row each way for every currency but USD (EUR, GBP, JPY, and
        # KWD where the profile bills in it)
        rated = 4 if s.profile["billing"].get("kwd_share") else 3
        per_day = Counter(r[0] for r in s.erp.execute("select effectivedate from currencyrate"))
        assert set(per_day.values()) == {2 * rated}, name
        gaps = {(b - a).days for a, b in itertools.pairwise(days)}
        cadence = s.profile["erp"]["rate_cadence"]
        if cadence == "daily":
            assert gaps == {1}, name
        elif cadence == "monthly":
            assert all(d.day == 1 for d in days), name
            assert len(days) == 24
        else:
            assert gaps <= set(range(1, 13)) and len(gaps) > 6, name
            assert 60 < len(days) < 400


def test_transactions_use_the_rate_as_of_their_date(built: dict[str, Sandbox]) -> None:
    for name, s in built.items():
        # dollar documents of the non-US entities: exchangerate is USD in the entity's
        # currency, the `currencyrate` row (base = entity currency) in force on the date
        entered: dict[int, list[tuple[str, float]]] = {}
        for base, day, rate in s.erp.execute(
            "select basecurrency, effectivedate, exchangerate from currencyrate"
            " where transactioncurrency = 1 order by effectivedate"
        ):
            entered.setdefault(base, []).append((day, rate))
        rows = s.erp_rows(
            'select t.trandate, s.currency as base, t.exchangerate from "transaction" t'
            " join transactionline l on l.\"transaction\" = t.id and l.mainline = 'T'"
            " join subsidiary s on s.id = l.subsidiary"
            " where t.currency = 1 and l.subsidiary <> 1"
        )
        assert len(rows) > 20, name
        for r in rows:
            in_force = [rate for day, rate in entered[r["base"]] if day <= r["trandate"]]
            assert r["exchangerate"] == in_force[-1], (name, r)
        # the ledger and the other direction go through Sandbox.usd_rate (as of the date)
        assert s.usd_rate("EUR", "2026-10-31") > 0


def test_invoice_reference_and_duplicates(built: dict[str, Sandbox]) -> None:
    for name, s in built.items():
        erp = s.profile["erp"]
        field, value = erp["invoice_reference_field"], erp["invoice_reference_value"]
        other = "memo" if field == "otherrefnum" else "otherrefnum"
        invoices = {d["id"]: d for d in s.docs("invoices")}
        rows = s.erp_rows("select * from \"transaction\" where type = 'CustInvc'")
        primaries = [r for r in rows if r["externalid"]]
        dups = [r for r in rows if not r["externalid"]]
        assert primaries and dups, name
        for r in primaries:
            inv = invoices[r["externalid"]]
            assert r[field] == inv[value], (name, r["id"])
            if field == "memo":
                assert r[other] is None  # the integration writes nothing else
        gt = {g["erp_id"]: g for g in s.gt if g["exception_type"] == "invoice_duplicate_in_erp"}
        assert {str(r["id"]) for r in dups} == set(gt), name
        for r in dups:
            g = gt[str(r["id"])]
            assert g["field"] == field and g["wrong_value"] == r[field], name
            assert invoices[g["billing_id"]][value] == r[field]


def test_payment_keys(built: dict[str, Sandbox]) -> None:
    for name, s in built.items():
        prefix = {"charge": "ch_", "payment_intent": "pi_"}[s.profile["erp"]["payment_key"]]
        rows = s.erp.execute(
            "select externalid, otherrefnum from \"transaction\" where type='CustPymt'"
        ).fetchall()
        ext = Counter(r[0][:3] for r in rows if r[0] is not None)
        assert set(ext) == {prefix, "wir"}, name
        # a payment posted twice (payment_duplicate_in_erp) has no externalid (NetSuite refuses
        # it twice): its otherrefnum carries the key
        assert {r[1][:3] for r in rows if r[0] is None} == {prefix}, name
        for g in s.gt:
            if g["exception_type"].startswith("payment_"):
                # recon reports a card payment by its charge whatever key the ERP uses
                assert g["billing_id"].startswith("ch_"), name


def test_unused_optional_stripe_fields(built: dict[str, Sandbox]) -> None:
    def count(s: Sandbox, path: str) -> int:
        return s.billing.execute(
            f"select count(*) from invoices where json_extract(doc, '$.{path}') is not null"
        ).fetchone()[0]

    classic, northwind = built["classic"], built["northwind"]
    assert count(classic, "status_transitions.marked_uncollectible_at") > 0
    assert count(classic, "subscription_details.metadata.crm_contract_id") > 1000
    assert count(northwind, "status_transitions.marked_uncollectible_at") == 0
    statuses = {d["status"] for d in northwind.docs("invoices")}
    assert "uncollectible" not in statuses and "void" in statuses
    for d in northwind.docs("invoices"):
        assert d["subscription_details"]["metadata"] == {}
        assert d["discounts"] == []
    for d in northwind.docs("subscriptions"):
        assert d["trial_end"] is None and d["discounts"] == []
    events = {r[0] for r in northwind.billing.execute("select distinct type from events")}
    assert "invoice.marked_uncollectible" not in events


# --------------------------------------------------------------- the ground truth holds


def test_every_exception_type_is_injected(sbx: Sandbox) -> None:
    gen.test_every_exception_type_is_injected(sbx)


def test_ground_truth_is_in_the_data(sbx: Sandbox) -> None:
    gen.test_ground_truth_is_in_the_data(sbx)


def test_everything_not_injected_agrees(sbx: Sandbox) -> None:
    gen.test_everything_not_injected_agrees(sbx)


def test_ledger_matches_the_documents(sbx: Sandbox) -> None:
    gen.test_ledger_matches_the_documents(sbx)


def test_xref_truth(sbx: Sandbox) -> None:
    gen.test_xref_truth(sbx)


def test_activated_contracts_have_exactly_one_live_subscription(sbx: Sandbox) -> None:
    gen.test_activated_contracts_have_exactly_one_live_subscription(sbx)


def test_advance_keeps_the_profile(tmp_path: Path) -> None:
    paths = schema.SandboxPaths(tmp_path / "s")
    generate(paths, seed=4, customers=60, profile="northwind")
    written = paths.profile.read_text()
    advance(paths, days=40)
    s = Sandbox(paths.root)
    try:
        assert s.manifest["profile"] == "northwind" and paths.profile.read_text() == written
        new = s.erp_rows(
            "select externalid, otherrefnum from \"transaction\" where type = 'CustPymt'"
            " and trandate >= ?",
            ("2026-11-01",),
        )
        # a payment posted twice carries its key in otherrefnum only (payment_duplicate_in_erp)
        keys = [r["externalid"] or r["otherrefnum"] for r in new]
        assert new and all(k[:3] in ("pi_", "wir") for k in keys)
        days = _rate_days(s)
        assert [d for d in days if d >= date(2026, 10, 2)] == [date(2026, 11, 1), date(2026, 12, 1)]
        assert all(d.day == 1 for d in days)
        gen._check_agreement(s)
        gen.test_ground_truth_is_in_the_data(s)
    finally:
        s.close()


def test_the_served_erp_denies_what_the_profile_denies(built: dict[str, Sandbox]) -> None:
    for name, s in built.items():
        with serve(create_app(s.paths)) as base, httpx.Client(base_url=base, timeout=30) as c:
            r = c.post(
                "/services/rest/query/v1/suiteql",
                json={"q": "SELECT recordid FROM deletedrecord"},
                headers={"Prefer": "transient"},
            )
            if "deletedrecord" in s.profile["erp"]["denied_tables"]:
                assert r.status_code == 400, (name, r.text)
                assert "Record 'deletedrecord' was not found" in r.text
            else:
                assert r.status_code == 200, (name, r.text)


def test_amendment_amounts_follow_the_profile(built: dict[str, Sandbox]) -> None:
    """An amendment's Amount is the contract's full new terms (`total`) or the change (`change`):
    either way the contract's value after each won opportunity (its Amount, or the running sum)
    is what its line items state over the term; only a change is ever negative."""
    modes = set()
    for name, s in built.items():
        mode = s.profile["opportunities"]["amendment_amount"]
        modes.add(mode)
        contracts = {
            r["Id"]: r
            for r in s.crm_rows(
                'select "Id", "ContractTerm", "Billing_Frequency__c" from "Contract"'
            )
        }
        lines: dict[str, Decimal] = {}
        for r in s.crm_rows('select "OpportunityId", "TotalPrice" from "OpportunityLineItem"'):
            lines[r["OpportunityId"]] = lines.get(r["OpportunityId"], Decimal(0)) + Decimal(
                r["TotalPrice"]
            )
        value: dict[str, Decimal] = {}
        amendments = negative = 0
        for o in s.crm_rows(
            'select "Id", "ContractId", "Amount" from "Opportunity" where "IsWon" = 1'
            ' order by "CloseDate", "CreatedDate", "Id"'
        ):
            c = contracts[o["ContractId"]]
            term = c["ContractTerm"]
            months = {"Annual": 12, "Quarterly": 3}.get(c["Billing_Frequency__c"], 1)
            periods = term // months
            amount = Decimal(o["Amount"])
            if o["ContractId"] in value:
                amendments += 1
                negative += amount < 0
                amount = value[o["ContractId"]] + amount if mode == "change" else amount
            value[o["ContractId"]] = amount
            assert amount == lines[o["Id"]] * periods, (name, o["Id"])
        assert amendments > 0, name
        assert (negative > 0) == (mode == "change"), name
    assert modes == {"total", "change"}


def test_quarterly_prices_follow_the_profile(built: dict[str, Sandbox]) -> None:
    """`billing.quarterly_share`: northwind bills a share of its customers every 3 months (a
    Stripe price recurring month x interval_count 3, its contract billed Quarterly); a profile
    without the switch never does."""
    for name, s in built.items():
        share = s.profile["billing"].get("quarterly_share", 0)
        counts = {
            (d["recurring"]["interval"], d["recurring"]["interval_count"])
            for d in s.docs("prices")
            if d["recurring"]
        }
        quarterly = s.crm_rows(
            'select "Id" from "Contract" where "Billing_Frequency__c" = \'Quarterly\''
        )
        if share:
            assert ("month", 3) in counts, name
            assert quarterly, name
        else:
            assert ("month", 3) not in counts, name
            assert not quarterly, name


def test_second_currency_customers_follow_the_profile(built: dict[str, Sandbox]) -> None:
    """`billing.multi_currency_share`: under northwind some accounts have a Stripe customer per
    currency, each booked by a NetSuite customer of the subsidiary keeping that currency (the
    second keyed `<account id>-<currency>`); a profile without the switch has one of each."""
    currency_of = {
        r[0]: r[1] for r in built["classic"].erp.execute("select id, symbol from currency")
    }
    for name, s in built.items():
        share = s.profile["billing"].get("multi_currency_share", 0)
        rows = _xref(s)
        per_account = Counter(r["crm_account_id"] for r in rows)
        multi = {a for a, n in per_account.items() if n > 1}
        if not share:
            assert not multi, name
            continue
        assert len(multi) >= 5, name
        stripe = {d["id"]: d for d in s.docs("customers")}
        erp = {
            str(r[0]): (r[1], currency_of[r[2]], currency_of[r[3]])
            for r in s.erp.execute(
                "select c.id, c.externalid, c.currency, s.currency from customer c "
                "join subsidiary s on s.id = c.subsidiary"
            )
        }
        for account in multi:
            members = [r for r in rows if r["crm_account_id"] == account]
            currencies = set()
            for r in members:
                cur = stripe[r["billing_customer_id"]]["currency"].upper()
                currencies.add(cur)
                external, erp_currency, subsidiary_currency = erp[r["erp_customer_id"]]
                assert erp_currency == cur, (name, r)
                if len(currencies) > 1:  # a second currency's subsidiary keeps it
                    assert subsidiary_currency == cur, (name, r)
                assert external in (account, f"{account}-{cur}"), (name, r)
            assert len(currencies) == len(members), (name, account)
            # the first customer keeps the account id as external id, the others a suffix
            externals = sorted(erp[r["erp_customer_id"]][0] for r in members)
            assert externals[0] == account, (name, externals)
