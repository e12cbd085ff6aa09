"""Milestone 2: recon_exceptions scored against the sandbox's ground truth, per type."""

from __future__ import annotations

import pytest

from tests.contract import EXCEPTION_TYPES
from tests.dbt.conftest import Built
from tests.dbt.scoring import load_truth, report, score, split_in_transit


def test_every_exception_type_scores_precision_and_recall_one(built: Built) -> None:
    as_of = built.rows("select as_of_at from intermediate.int_recon_clock")[0]["as_of_at"]
    truth, in_transit = split_in_transit(load_truth(built.home), as_of)
    scores = score(built.rows("select * from recon.recon_exceptions"), truth)
    print("\n" + report(scores))
    # what the ground truth holds in transit is listed there, and only that
    transit = score(built.rows("select * from recon.recon_in_transit"), in_transit)
    assert all((s.false_positive, s.false_negative) == ([], []) for s in transit.values()), transit
    # the sandbox faults the first eligible record of every family: all types are present
    assert set(scores) == set(EXCEPTION_TYPES)
    for name, s in scores.items():
        assert s.false_positive == [], name
        assert s.false_negative == [], name
        assert s.value_mismatches == [], name
        assert (s.precision, s.recall) == (1.0, 1.0), name


def test_exception_ids_are_unique_and_stable_across_runs(built: Built) -> None:
    before = {r["exception_id"]: r for r in built.rows("select * from recon.recon_exceptions")}
    outcome = built.dbt("run", "--select", "recon_exceptions", "--full-refresh")
    assert outcome.success, outcome.failures
    after = {r["exception_id"]: r for r in built.rows("select * from recon.recon_exceptions")}
    assert before.keys() == after.keys()
    assert len(before) == len(built.rows("select exception_id from recon.recon_exceptions"))


def test_exceptions_carry_severity_owner_and_usd_delta(built: Built) -> None:
    rows = built.rows("select * from recon.recon_exceptions")
    assert {r["severity"] for r in rows} <= {"low", "medium", "high", "critical"}
    assert all(r["amount_delta_usd"] is not None for r in rows)
    money = [r for r in rows if r["exception_type"] == "invoice_amount_mismatch"]
    assert money and all(r["amount_delta_usd"] != 0 for r in money)
    assert {r["owner_system"] for r in rows if r["exception_type"].startswith("invoice")} == {
        "billing"
    }


@pytest.mark.parametrize(
    ("exception_type", "action"),
    [
        ("customer_missing_in_erp", "create"),
        ("invoice_missing_in_erp", "create"),
        ("payment_missing_in_erp", "create"),
        ("invoice_amount_mismatch", "update"),
        ("invoice_duplicate_in_erp", "delete"),
    ],
)
def test_erp_corrections_follow_the_exceptions(
    built: Built, exception_type: str, action: str
) -> None:
    import json

    rows = built.rows(
        f"select * from writeback.erp_corrections where exception_type = '{exception_type}'"
    )
    open_ids = {
        r["exception_id"]
        for r in built.rows(
            "select exception_id from recon.recon_exceptions "
            f"where exception_type = '{exception_type}'"
        )
    }
    assert {r["exception_id"] for r in rows} == open_ids
    assert {r["action"] for r in rows} == {action}
    for r in rows:
        if action == "create":
            body = json.loads(r["payload"])
            assert body["externalId"] == r["external_id"]
            assert r["erp_id"] is None
        else:
            assert r["erp_id"] is not None and r["payload"] is None


def test_customer_xref_equals_the_true_mapping(built: Built) -> None:
    import csv

    with (built.home / "sandbox" / "xref_truth.csv").open(newline="") as fh:
        truth = {
            r["crm_account_id"]: (r["billing_customer_id"] or None, r["erp_customer_id"] or None)
            for r in csv.DictReader(fh)
        }
    got = {
        r["crm_account_id"]: (r["billing_customer_id"], r["erp_customer_id"])
        for r in built.rows(
            "select crm_account_id, billing_customer_id, erp_customer_id "
            "from core.customer_xref where crm_account_id is not null"
        )
    }
    wrong = {k: (v, got.get(k)) for k, v in truth.items() if got.get(k) != v}
    assert wrong == {}
    fuzzy = built.rows("select count(*) as n from core.customer_xref where match_method = 'fuzzy'")
    assert fuzzy[0]["n"] > 0


def test_cash_and_credit_types_need_a_person_and_are_never_written(built: Built) -> None:
    """Refunds and credit notes missing, unapplied and duplicate payments: recon lists them
    with requires_approval, and write-back plans no correction for any of them."""
    manual = (
        "refund_missing_in_erp",
        "credit_note_missing_in_erp",
        "payment_unapplied_in_erp",
        "payment_duplicate_in_erp",
    )
    rows = built.rows(
        "select exception_type, requires_approval, owner_system, mirror_system "
        f"from recon.recon_exceptions where exception_type in {manual}"
    )
    assert {r["exception_type"] for r in rows} == set(manual)
    assert all(r["requires_approval"] for r in rows)
    assert {(r["owner_system"], r["mirror_system"]) for r in rows} == {("billing", "erp")}
    written = built.rows(
        f"select exception_id from writeback.erp_corrections where exception_type in {manual}"
    )
    assert written == []
