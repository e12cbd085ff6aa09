"""The write-back policy: the shipped file is valid; every invalid one names its line."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from reverse_etl.policy import DEFAULT_POLICY_PATH, PolicyError, load_policy, parse_policy

TEXT = DEFAULT_POLICY_PATH.read_text()


def line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


def test_shipped_policy_loads() -> None:
    policy = load_policy()
    assert policy.record_types["customer"].actions == {"create", "update"}
    assert "companyName" in policy.record_types["customer"].fields
    assert policy.mode_for("invoice_duplicate_in_erp") == "approval"
    assert policy.mode_for("customer_attribute_mismatch") == "auto"
    assert policy.mode_for("some_new_type") == policy.default_mode == "approval"
    assert policy.max_auto_amount_delta_usd == Decimal("5000.00")
    assert policy.max_amount_delta_usd > policy.max_auto_amount_delta_usd
    assert policy.closed_from_erp and policy.sha


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("invoice_amount_mismatch: auto", "invoice_amount_mismatch: sometimes", "not one of"),
        ('max_auto_amount_delta_usd: "5000.00"', "max_auto_amount_delta_usd: 5000.5", "no floats"),
        ('max_amount_delta_usd: "250000.00"', 'max_amount_delta_usd: "10.00"', "must not be below"),
        ("actions: [create]", "actions: [create, smash]", "'smash' is not one of"),
        ("  concurrency: 4", "  concurency: 4", "unknown key 'concurency'"),
        ("through: null", "through: 2025-13", 'a month like "2025-06"'),
        ("max_rejected_share: 0.2", "max_rejected_share: 1.5", "between 0 and 1"),
        ("  creditmemo:", "  salesorder:", "unknown key 'salesorder'"),
        ("max_rows_per_run: 5000", "max_rows_per_run: lots", "expected an integer"),
    ],
)
def test_invalid_policy_names_the_line(old: str, new: str, message: str) -> None:
    assert old in TEXT
    bad = TEXT.replace(old, new, 1)
    with pytest.raises(PolicyError) as err:
        parse_policy(bad, "policy.yml")
    assert message in str(err.value)
    assert str(err.value).startswith(f"policy.yml:{line_of(bad, new)}:"), str(err.value)


def test_missing_section_and_broken_yaml(tmp_path: Path) -> None:
    no_limits = TEXT[: TEXT.index("limits:")]
    with pytest.raises(PolicyError, match=r"^policy.yml:\d+: \(top level\): missing required key"):
        parse_policy(no_limits, "policy.yml")
    with pytest.raises(PolicyError, match=r"^policy.yml:3: not valid YAML"):
        parse_policy("version: 1\nrecord_types: {\n", "policy.yml")
    with pytest.raises(PolicyError, match="cannot read the policy"):
        load_policy(tmp_path / "absent.yml")
    dup = TEXT.replace("default_mode: approval", "default_mode: approval\ndefault_mode: auto")
    with pytest.raises(PolicyError, match=f"policy.yml:{line_of(dup, 'default_mode: auto')}:"):
        parse_policy(dup, "policy.yml")
