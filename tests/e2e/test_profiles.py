"""The whole loop at `small` under every sandbox profile: companies closeloop has never seen.

Each profile (`sandbox/profiles/*.toml`) is a company that follows the vendors' documented
behaviour but not the classic sandbox's habits: other picklist values, other metadata keys or
none, monthly or irregular FX rates, the Stripe invoice number instead of its id in another ERP
field, payments keyed by the payment intent, a role without *Deleted Records*, optional Stripe
fields never set. Unconfigured (the shipped defaults), the loop must land, build, reconcile with
precision and recall 1.0 per exception type, tie invoice money to the cent in every currency and
in USD, tie the KPIs to the sandbox's ledger, and close: plan, apply, re-ingest, verify, and a
second apply writes nothing.
"""

from __future__ import annotations

import contextlib
import csv
import json
import sqlite3
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from closeloop.settings import Settings
from tests.contract import EXCEPTION_TYPES
from tests.dbt.scoring import load_truth, report, score, split_in_transit
from tests.dbt.tieout import compare, load_ledger
from tests.ingestion.support import env_for, patched_env, served
from transform import DbtOutcome, run_dbt

ROOT = Path(__file__).resolve().parents[2]
PROFILES = sorted(p.stem for p in (ROOT / "sandbox" / "profiles").glob("*.toml"))
#: ISO 4217 exponents of the sandbox's currencies other than 2 (Stripe agrees on these): JPY
#: has no minor unit, KWD three (fils), written here independently of the code under test.
EXPONENTS = {"JPY": 0, "KWD": 3}


@dataclass
class Landed:
    """A profile's sandbox, landed and built once, with the ingest summaries."""

    profile: str
    home: Path
    target: Path
    ingest: list[Any]
    build: DbtOutcome
    urls: dict[str, str]

    @property
    def settings(self) -> Settings:
        return Settings.from_env({"CLOSELOOP_HOME": str(self.home)})

    def rows(self, sql: str) -> list[dict[str, Any]]:
        con = duckdb.connect(str(self.settings.duckdb_path))
        try:
            cur = con.execute(sql)
            names = [d[0] for d in cur.description or []]
            return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
        finally:
            con.close()


def test_every_profile_is_shipped() -> None:
    # the issue asks for at least three profiles that between them vary every convention
    assert len(PROFILES) >= 3, PROFILES


@pytest.fixture(scope="module", params=PROFILES)
def landed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Landed, Any]]:
    """Generate `small` under the profile, serve it, ingest everything and `dbt build`."""
    from ingestion.pipelines import run_ingest
    from sandbox.generator import generate
    from sandbox.schema import SandboxPaths

    profile = str(request.param)
    home = tmp_path_factory.mktemp(f"profile-{profile}")
    generate(SandboxPaths.under(home), seed=42, scale="small", profile=profile)
    with served(home) as sandbox, patched_env(env_for(home, sandbox.urls)):
        settings = Settings.from_env()
        summaries = run_ingest(["crm", "billing", "erp"], settings)
        target = home / "dbt-target"
        build = run_dbt(["build"], settings, target="dev", target_path=target)
        yield Landed(profile, home, target, summaries, build, dict(sandbox.urls)), sandbox


def _profile_json(home: Path) -> dict[str, Any]:
    return json.loads((home / "sandbox" / "profile.json").read_text())


@pytest.mark.slow
def test_build_succeeds_and_degrades_instead_of_failing(landed: tuple[Landed, Any]) -> None:
    run, _ = landed
    assert run.build.success, run.build.failures[:5]
    assert run.build.failures == []
    # every amount without a USD value is listed with its reason, never a silent null
    unlisted = run.rows(
        "select invoice_id from core.fct_invoice where total_usd is null and invoice_id not in "
        "(select record_id from ops.dq_issues)"
    )
    assert unlisted == []


@pytest.mark.slow
def test_recon_scores_one_per_exception_type(landed: tuple[Landed, Any]) -> None:
    run, _ = landed
    as_of = run.rows("select as_of_at from intermediate.int_recon_clock")[0]["as_of_at"]
    truth, in_transit = split_in_transit(load_truth(run.home), as_of)
    scores = score(run.rows("select * from recon.recon_exceptions"), truth)
    print(f"\n[{run.profile}]\n" + report(scores))
    # items the ground truth holds in transit are listed there, never as exceptions
    transit = score(run.rows("select * from recon.recon_in_transit"), in_transit)
    for name, s in transit.items():
        assert (s.false_positive, s.false_negative) == ([], []), (run.profile, name)
    written = run.rows(
        "select exception_id from writeback.erp_corrections where exception_id in "
        "(select exception_id from recon.recon_in_transit)"
    )
    assert written == [], run.profile
    expected = {e["exception_type"] for e in truth}
    assert expected <= set(EXCEPTION_TYPES)
    assert set(scores) == expected
    for name, s in scores.items():
        assert s.false_positive == [], (run.profile, name)
        assert s.false_negative == [], (run.profile, name)
        assert s.value_mismatches == [], (run.profile, name)


@pytest.mark.slow
def test_kpis_tie_out_to_the_ledger(landed: tuple[Landed, Any]) -> None:
    run, _ = landed
    differences = compare(run.rows("select * from kpi.kpi_monthly"), load_ledger(run.home))
    assert differences[:10] == []


def _rates(home: Path) -> dict[str, list[tuple[date, Decimal]]]:
    """USD per unit of each currency from the ERP's currencyrate rows, by effective date."""
    con = sqlite3.connect(home / "sandbox" / "erp.sqlite")
    try:
        codes = dict(con.execute("select id, symbol from currency").fetchall())
        usd = next(k for k, v in codes.items() if v == "USD")
        out: dict[str, list[tuple[date, Decimal]]] = defaultdict(list)
        for quote, rate, eff in con.execute(
            "select transactioncurrency, exchangerate, effectivedate from currencyrate "
            "where basecurrency = ?",
            (usd,),
        ):
            out[codes[quote]].append((_erp_date(eff), Decimal(str(rate))))
        for series in out.values():
            series.sort()
        return out
    finally:
        con.close()


def _erp_date(text: str) -> date:
    return date.fromisoformat(text) if "-" in text else datetime.strptime(text, "%m/%d/%Y").date()


def _rate_as_of(series: list[tuple[date, Decimal]], day: date) -> Decimal | None:
    """The latest rate effective on or before `day` (NetSuite's rule), written independently."""
    best = None
    for effective, rate in series:
        if effective <= day:
            best = rate
    return best


def _major(minor: int, currency: str) -> Decimal:
    return Decimal(minor).scaleb(-EXPONENTS.get(currency, 2))


@pytest.mark.slow
def test_invoice_money_ties_to_the_cent_in_every_currency_and_in_usd(
    landed: tuple[Landed, Any],
) -> None:
    run, _ = landed
    rates = _rates(run.home)
    con = sqlite3.connect(run.home / "sandbox" / "billing.sqlite")
    try:
        docs = [json.loads(d) for (d,) in con.execute("select doc from invoices")]
    finally:
        con.close()
    want: dict[str, Decimal] = defaultdict(Decimal)
    want_usd: dict[str, Decimal] = defaultdict(Decimal)
    unrated = 0
    for doc in docs:
        finalized = (doc.get("status_transitions") or {}).get("finalized_at")
        if not finalized:
            continue
        cur = doc["currency"].upper()
        total = _major(doc["total"], cur)
        want[cur] += total
        day = datetime.fromtimestamp(finalized, UTC).date()
        rate = Decimal(1) if cur == "USD" else _rate_as_of(rates.get(cur, []), day)
        if rate is None:
            unrated += 1
            continue
        want_usd[cur] += (total * rate).quantize(Decimal("0.01"), ROUND_HALF_UP)
    got = {
        r["currency_code"]: r
        for r in run.rows(
            "select upper(currency_code) as currency_code, sum(total) as total, "
            "sum(total_usd) as total_usd, count(*) filter (where total_usd is null) as unrated "
            "from core.fct_invoice where finalized_at is not null group by 1"
        )
    }
    assert set(got) == set(want)
    for cur, amount in want.items():
        assert Decimal(got[cur]["total"]) == amount, cur
        assert Decimal(got[cur]["total_usd"] or 0) == want_usd[cur], cur
    assert sum(int(r["unrated"]) for r in got.values()) == unrated


@pytest.mark.slow
def test_the_loop_closes_and_a_second_apply_writes_nothing(landed: tuple[Landed, Any]) -> None:
    from closeloop.exceptions import refresh_history
    from ingestion.pipelines import run_ingest
    from reverse_etl.policy import load_policy
    from reverse_etl.runner import run_apply, run_plan, run_verify
    from reverse_etl.verify import open_exception_ids

    run, _ = landed
    policy = load_policy()
    # a payment closeloop creates is keyed as the company's integration keys every other one
    key = _profile_json(run.home)["erp"]["payment_key"]
    prefixes = run.rows(
        "select distinct left(external_id, 3) as prefix from writeback.erp_corrections "
        "where exception_type = 'payment_missing_in_erp' and payload is not null"
    )
    assert prefixes == [{"prefix": "ch_" if key == "charge" else "pi_"}], prefixes
    # a match below the threshold (customer_xref needs_review) is never corrected automatically
    review = run.rows(
        "select crm_account_id as id from core.customer_xref where needs_review "
        "union select billing_customer_id from core.customer_xref where needs_review "
        "union select invoice_id from core.fct_invoice where billing_customer_id in "
        "(select billing_customer_id from core.customer_xref where needs_review) "
        "union select payment_id from core.fct_payment where billing_customer_id in "
        "(select billing_customer_id from core.customer_xref where needs_review)"
    )
    review_ids = {r["id"] for r in review if r["id"]}
    exceptions = {r["exception_id"]: r for r in run.rows("select * from recon.recon_exceptions")}
    on_review = {e for e, r in exceptions.items() if {r["crm_id"], r["billing_id"]} & review_ids}
    assert all(exceptions[e]["requires_approval"] for e in on_review), run.profile
    with patched_env(env_for(run.home, run.urls)):
        settings = Settings.from_env()
        _, items, _ = run_plan(settings, policy)
        auto = [i for i in items if i.decision == "apply"]
        assert auto, f"{run.profile}: nothing auto-applicable in the plan"
        assert not {i.exception_id for i in auto} & on_review, run.profile
        result = run_apply(settings, policy)
        assert result.applied == len(auto) and not result.errors, result.errors
        assert run_apply(settings, policy).requests == 0  # a second apply writes nothing
        run_ingest(["erp"], settings)
        rebuilt = run_dbt(["build"], settings, target="dev", target_path=run.target)
        assert rebuilt.success, rebuilt.failures[:5]
        with contextlib.closing(duckdb.connect(str(settings.duckdb_path))) as con:
            still_open = open_exception_ids(con)
        assert not {i.exception_id for i in auto} & still_open
        verified = run_verify(settings, policy)
        assert len(verified.verified) == len(auto) and not verified.escalated
        assert refresh_history(settings, target_path=run.target).success
    # recon_exception_history shows each corrected exception's path to verified closed
    rows = run.rows("select * from recon.recon_exception_history")
    history = {r["exception_id"]: r for r in rows}
    for item in auto:
        h = history[item.exception_id]
        assert (h["status"], h["correction_status"]) == ("verified_closed", "verified"), (
            run.profile,
            item.exception_id,
        )
        assert h["first_seen_at"] <= h["closed_at"] and h["applied_at"] <= h["verified_at"]
        assert not h["is_open"]


@pytest.mark.slow
def test_a_denied_permission_is_a_warning_that_names_it(landed: tuple[Landed, Any]) -> None:
    run, _ = landed
    denied = (_profile_json(run.home).get("erp") or {}).get("denied_tables") or []
    warnings = [w for s in run.ingest for w in getattr(s, "warnings", [])]
    if not denied:
        assert warnings == []
        return
    # one warning per denied table, naming the NetSuite permission; the load went on
    assert len(warnings) == len(denied), warnings
    assert any("Deleted Records" in str(w) for w in warnings), warnings
    assert run.rows("select count(*) as n from raw_erp.transaction")[0]["n"] > 0


def test_a_three_decimal_currency_ties_to_the_fils(landed: tuple[Landed, Any]) -> None:
    """A profile billing in KWD: amounts keep their thousandths, the ERP agrees to the fils."""
    run, _ = landed
    share = (_profile_json(run.home).get("billing") or {}).get("kwd_share") or 0
    kwd = run.rows(
        "select count(*) as n, count(*) filter (where total * 100 <> floor(total * 100)) as fils, "
        "count(*) filter (where total_usd is not null) as in_usd "
        "from core.fct_invoice where currency_code = 'KWD'"
    )[0]
    ledger = {r["currency"] for r in load_ledger(run.home)}
    if not share:
        assert kwd["n"] == 0 and "KWD" not in ledger
        return
    # invoices in fils (not only whole cents), converted to USD, and in the ledger's figures
    assert kwd["n"] > 0 and kwd["fils"] > 0 and kwd["in_usd"] > 0, kwd
    assert "KWD" in ledger
    precision = run.rows(
        "select currency_precision from staging.stg_erp__currencies where currency_code = 'KWD'"
    )
    assert precision == [{"currency_precision": 3}]
    assert (
        run.rows("select * from ops.dq_issues where issue_type = 'currency_precision_mismatch'")
        == []
    )


#: The cash and credit exception types (issue 13): a person corrects them in the ERP.
CASH_AND_CREDIT_TYPES = (
    "refund_missing_in_erp",
    "credit_note_missing_in_erp",
    "payment_unapplied_in_erp",
    "payment_duplicate_in_erp",
)


@pytest.mark.slow
def test_cash_and_credit_types_are_found_and_never_written(landed: tuple[Landed, Any]) -> None:
    """Every profile injects each cash and credit type; recon finds each one (precision and
    recall 1.0, values included), and write-back plans no correction for any of them."""
    run, _ = landed
    as_of = run.rows("select as_of_at from intermediate.int_recon_clock")[0]["as_of_at"]
    truth, in_transit = split_in_transit(load_truth(run.home), as_of)
    scores = score(run.rows("select * from recon.recon_exceptions"), truth)
    transit = score(run.rows("select * from recon.recon_in_transit"), in_transit)
    for name in CASH_AND_CREDIT_TYPES:
        s = scores.get(name)
        assert s is not None and s.true_positive > 0, (run.profile, name)
        assert (s.precision, s.recall, s.value_mismatches) == (1.0, 1.0, []), (run.profile, name)
        t = transit.get(name)
        assert t is None or (t.false_positive, t.false_negative) == ([], []), (run.profile, name)
    exceptions = run.rows(
        "select exception_type, requires_approval from recon.recon_exceptions "
        f"where exception_type in {CASH_AND_CREDIT_TYPES}"
    )
    assert exceptions and all(r["requires_approval"] for r in exceptions), run.profile
    written = run.rows(
        "select exception_type from writeback.erp_corrections "
        f"where exception_type in {CASH_AND_CREDIT_TYPES}"
    )
    assert written == [], run.profile


@pytest.mark.slow
def test_partial_payments_match_their_applications(landed: tuple[Landed, Any]) -> None:
    """A profile with pre-payment credit notes: the retry pays part of the invoice, the ERP
    payment applies that part, and no payment exception is raised for it."""
    run, _ = landed
    share = (_profile_json(run.home).get("billing") or {}).get("prepayment_credit_share") or 0
    partial = run.rows(
        "select p.payment_id, p.erp_payment_id from core.fct_payment as p "
        "inner join staging.stg_billing__invoices as i on p.invoice_id = i.invoice_id "
        "where p.payment_method = 'charge' and p.is_posted_to_erp and p.amount < i.total"
    )
    if not share:
        assert partial == [], run.profile
        return
    assert len(partial) >= 5, partial
    # each is applied to its invoice for the part it paid, and the truth faults none of them
    faulted = {e["billing_id"] for e in load_truth(run.home)}
    clean = [p for p in partial if p["payment_id"] not in faulted]
    assert clean, partial
    flagged = run.rows(
        "select billing_id from recon.recon_exceptions where exception_type like 'payment%' "
        "and billing_id in (" + ", ".join(f"'{p['payment_id']}'" for p in clean) + ")"
    )
    assert flagged == [], flagged


@pytest.mark.slow
def test_an_account_with_many_billing_and_erp_customers_rolls_up(
    landed: tuple[Landed, Any],
) -> None:
    """A profile with second-currency customers (`billing.multi_currency_share`): every billing
    and ERP customer of the truth is a member of its account's canonical customer, each billing
    customer with the ERP customer of its currency, and its invoices roll up to the account."""
    run, _ = landed
    share = (_profile_json(run.home).get("billing") or {}).get("multi_currency_share") or 0
    with (run.home / "sandbox" / "xref_truth.csv").open(newline="") as fh:
        truth = list(csv.DictReader(fh))
    accounts = Counter(r["crm_account_id"] for r in truth)
    multi = {a for a, n in accounts.items() if n > 1}
    assert bool(multi) == bool(share), run.profile
    members = {
        (r["source_system"], r["source_customer_id"]): r
        for r in run.rows("select * from core.customer_xref_members")
    }
    canonical = {
        r["crm_account_id"]: r["customer_id"]
        for r in run.rows(
            "select crm_account_id, customer_id, billing_customer_count from core.customer_xref "
            "where crm_account_id is not null"
        )
    }
    for r in truth:
        if r["billing_customer_id"]:
            m = members[("billing", r["billing_customer_id"])]
            assert m["customer_id"] == canonical[r["crm_account_id"]], r
            if r["erp_customer_id"]:  # (one missing may since be written back: not compared)
                assert m["erp_customer_id"] == r["erp_customer_id"], r
        if r["erp_customer_id"]:
            assert (
                members[("erp", r["erp_customer_id"])]["customer_id"]
                == canonical[r["crm_account_id"]]
            ), r
    if multi:
        second = [r["billing_customer_id"] for r in truth if r["crm_account_id"] in multi]
        invoices = run.rows(
            "select i.customer_id, x.crm_account_id from core.fct_invoice as i "
            "inner join core.customer_xref as x on i.customer_id = x.customer_id "
            "where i.billing_customer_id in (" + ", ".join(f"'{b}'" for b in second) + ")"
        )
        assert invoices and {i["crm_account_id"] for i in invoices} <= multi
        counts = run.rows(
            "select count(*) as n from core.customer_xref where billing_customer_count > 1"
        )
        assert counts[0]["n"] == len(multi)
