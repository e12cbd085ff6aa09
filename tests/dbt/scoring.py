"""Score `recon_exceptions` against the sandbox's ground truth, per exception type."""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

DBT_PROJECT = Path(__file__).resolve().parents[2] / "dbt_project" / "dbt_project.yml"

Key = tuple[str, str | None, str | None, str | None, str | None]


@dataclass
class TypeScore:
    """Matches of one exception type."""

    true_positive: int = 0
    false_positive: list[Key] = field(default_factory=list)
    false_negative: list[Key] = field(default_factory=list)
    value_mismatches: list[tuple[Key, Any, Any]] = field(default_factory=list)

    @property
    def precision(self) -> float:
        found = self.true_positive + len(self.false_positive)
        return self.true_positive / found if found else 1.0

    @property
    def recall(self) -> float:
        expected = self.true_positive + len(self.false_negative)
        return self.true_positive / expected if expected else 1.0


def truth_key(entry: dict[str, Any]) -> Key:
    """The identity of a ground-truth entry: its type, ids in each system and field."""
    return (
        entry["exception_type"],
        entry["crm_id"],
        entry["billing_id"],
        entry["erp_id"],
        entry["field"],
    )


def load_truth(home: Path) -> list[dict[str, Any]]:
    """The ground-truth entries of the sandbox under `home`."""
    path = home / "sandbox" / "ground_truth.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def settlement_windows() -> dict[str, int]:
    """The default settlement window (hours) of each exception type (dbt var)."""
    config = yaml.safe_load(DBT_PROJECT.read_text())
    return {k: int(v) for k, v in (config["vars"].get("settlement_window_hours") or {}).items()}


def split_in_transit(
    truth: list[dict[str, Any]], as_of: datetime, windows: dict[str, int] | None = None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The ground truth split by the written rule (docs/exceptions.md, Timing): an entry whose
    record entered its system of record (`entered_at`) less than its type's window before the
    recon's as-of instant is in transit; every other entry is an exception."""
    windows = settlement_windows() if windows is None else windows
    exceptions: list[dict[str, Any]] = []
    in_transit: list[dict[str, Any]] = []
    for entry in truth:
        hours = windows.get(entry["exception_type"], 0)
        entered = datetime.fromisoformat(
            (entry.get("entered_at") or entry["injected_at"]).replace("Z", "+00:00")
        ).replace(tzinfo=None)
        late = hours > 0 and entered + timedelta(hours=hours) > as_of
        (in_transit if late else exceptions).append(entry)
    return exceptions, in_transit


def score(found_rows: list[dict[str, Any]], truth: list[dict[str, Any]]) -> dict[str, TypeScore]:
    """Per-type precision/recall of `found_rows` (recon_exceptions rows) against `truth`.

    Root entries (no `caused_by`) must all be found; a consequential entry counts as a true
    positive when reported and is not required when not (as docs/sandbox-data.md scores it).
    Values (`correct_value`, `wrong_value`) must equal the ground truth's where it has them.
    """
    scores: dict[str, TypeScore] = defaultdict(TypeScore)
    roots = {truth_key(e): e for e in truth if not e["caused_by"]}
    consequential = {truth_key(e): e for e in truth if e["caused_by"]}
    found = {
        (r["exception_type"], r["crm_id"], r["billing_id"], r["erp_id"], r["field_name"]): r
        for r in found_rows
    }
    for key, row in found.items():
        entry = roots.get(key) or consequential.get(key)
        if entry is None:
            scores[key[0]].false_positive.append(key)
            continue
        scores[key[0]].true_positive += 1
        for name in ("correct_value", "wrong_value"):
            if entry[name] is not None and entry[name] != row[name]:
                scores[key[0]].value_mismatches.append((key, entry[name], row[name]))
    for key in roots:
        if key not in found:
            scores[key[0]].false_negative.append(key)
    return dict(scores)


def report(scores: dict[str, TypeScore]) -> str:
    """A table of the per-type figures."""
    lines = [f"{'exception_type':34} {'tp':>5} {'fp':>4} {'fn':>4} {'prec':>6} {'recall':>6}"]
    for name in sorted(scores):
        s = scores[name]
        lines.append(
            f"{name:34} {s.true_positive:5d} {len(s.false_positive):4d} "
            f"{len(s.false_negative):4d} {s.precision:6.3f} {s.recall:6.3f}"
        )
    return "\n".join(lines)
