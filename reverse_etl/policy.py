"""The write-back policy: load `policy.yml`, validate it strictly, name the line of any error."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

#: The policy shipped with the repository (version-controlled next to this module).
DEFAULT_POLICY_PATH = Path(__file__).with_name("policy.yml")

RECORD_TYPES = ("customer", "invoice", "customerpayment", "creditmemo")
ACTIONS = ("create", "update", "delete", "transform")
MODES = ("auto", "approval", "never")
_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")

Path_ = tuple[str, ...]


class PolicyError(ValueError):
    """An invalid policy file; the message starts with `<file>:<line>:`."""


@dataclass(frozen=True)
class RecordRule:
    """What may be written to one ERP record type."""

    actions: frozenset[str]
    fields: frozenset[str]


@dataclass(frozen=True)
class Policy:
    """A validated write-back policy.

    Attributes:
        record_types: writable record types and their allowed actions and fields.
        corrections: exception type -> `auto`, `approval` or `never`.
        default_mode: mode of exception types the policy does not list.
        max_auto_amount_delta_usd: above this, a correction waits for approval.
        max_amount_delta_usd: above this, a correction is refused.
        max_rows_per_run: most writes one `apply` performs.
        breaker_share: a run stops once rejected / attempted exceeds this share...
        breaker_min_attempts: ...after at least this many attempts.
        closed_from_erp: honour the ERP's own closed periods.
        closed_through: every month up to this `YYYY-MM` counts as closed (None: no bound).
        closed_months: further closed months.
        propose_adjusting: propose an adjusting document for a closed-period correction.
        requests_per_second: client-side rate limit (the ERP's governance limit).
        concurrency: writes in flight at once.
        max_attempts: tries per request on 429, 5xx and dropped connections.
        backoff_seconds: first retry delay (doubles each try).
        max_backoff_seconds: longest retry delay.
        source: the file it was read from.
        sha: a digest of the file's text (stored with every run in the ledger).
    """

    record_types: dict[str, RecordRule]
    corrections: dict[str, str]
    default_mode: str = "approval"
    max_auto_amount_delta_usd: Decimal = Decimal("0")
    max_amount_delta_usd: Decimal = Decimal("0")
    max_rows_per_run: int = 1000
    breaker_share: float = 0.2
    breaker_min_attempts: int = 10
    closed_from_erp: bool = True
    closed_through: str | None = None
    closed_months: frozenset[str] = frozenset()
    propose_adjusting: bool = True
    requests_per_second: float = 10.0
    concurrency: int = 4
    max_attempts: int = 8
    backoff_seconds: float = 0.2
    max_backoff_seconds: float = 8.0
    source: str = "<policy>"
    sha: str = field(default="", compare=False)

    def mode_for(self, exception_type: str) -> str:
        """`auto`, `approval` or `never` for an exception type."""
        return self.corrections.get(exception_type, self.default_mode)

    def month_closed(self, month: str) -> bool:
        """Whether the policy itself closes a `YYYY-MM` month (the ERP's flag is separate)."""
        if month in self.closed_months:
            return True
        return self.closed_through is not None and month <= self.closed_through


class _Reader:
    """Walks the YAML node tree, keeping the line of every value for error messages."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.lines: dict[Path_, int] = {}

    def plain(self, node: yaml.Node, path: Path_) -> Any:
        self.lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Any] = {}
            for key_node, value_node in node.value:
                key = str(key_node.value)
                if key in out:
                    self.lines[(*path, key)] = key_node.start_mark.line + 1
                    raise self.error((*path, key), f"duplicate key {key!r}")
                out[key] = self.plain(value_node, (*path, key))
                self.lines[(*path, key)] = key_node.start_mark.line + 1
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.plain(item, (*path, str(i))) for i, item in enumerate(node.value)]
        assert isinstance(node, yaml.ScalarNode)
        # The composer has already resolved the scalar's tag (int, bool, null, ...).
        return yaml.constructor.SafeConstructor().construct_object(node)

    def line(self, path: Path_) -> int:
        while path and path not in self.lines:
            path = path[:-1]
        return self.lines.get(path, 1)

    def error(self, path: Path_, message: str) -> PolicyError:
        where = ".".join(p for p in path if p) or "(top level)"
        return PolicyError(f"{self.source}:{self.line(path)}: {where}: {message}")


def _expect_keys(
    r: _Reader, value: Any, path: Path_, allowed: set[str], required: set[str]
) -> None:
    if not isinstance(value, dict):
        raise r.error(path, f"expected a mapping, got {type(value).__name__}")
    for key in value:
        if key not in allowed:
            raise r.error(
                (*path, key), f"unknown key {key!r} (allowed: {', '.join(sorted(allowed))})"
            )
    for key in sorted(required - set(value)):
        raise r.error(path, f"missing required key {key!r}")


def _str_list(r: _Reader, value: Any, path: Path_, choices: tuple[str, ...] | None) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise r.error(path, "expected a list of names")
    for i, v in enumerate(value):
        if choices is not None and v not in choices:
            raise r.error((*path, str(i)), f"{v!r} is not one of {', '.join(choices)}")
    return list(value)


def _money(r: _Reader, value: Any, path: Path_) -> Decimal:
    if isinstance(value, float | bool):
        raise r.error(path, 'write money as a quoted decimal string, e.g. "5000.00" (no floats)')
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise r.error(path, f"{value!r} is not a decimal amount") from None
    if not amount.is_finite() or amount < 0:
        raise r.error(path, "must be a non-negative amount")
    return amount


def _number(r: _Reader, value: Any, path: Path_, *, integer: bool, low: float, high: float) -> Any:
    ok = isinstance(value, int) if integer else isinstance(value, int | float)
    if isinstance(value, bool) or not ok:
        raise r.error(path, f"expected {'an integer' if integer else 'a number'}, got {value!r}")
    if not low <= value <= high:
        raise r.error(path, f"must be between {low:g} and {high:g}, got {value!r}")
    return value


def _month(r: _Reader, value: Any, path: Path_) -> str:
    if not isinstance(value, str) or not _MONTH.match(value):
        raise r.error(path, f'expected a month like "2025-06", got {value!r}')
    return value


def parse_policy(text: str, source: str = "<policy>") -> Policy:
    """Validate a policy document.

    Args:
        text: the YAML text.
        source: the file name used in error messages.

    Returns:
        The policy.

    Raises:
        PolicyError: naming the line of the first problem.
    """
    r = _Reader(source)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc)
        raise PolicyError(f"{source}:{line}: not valid YAML: {problem}") from None
    if node is None:
        raise PolicyError(f"{source}:1: the policy is empty")
    doc = r.plain(node, ())
    top = {"version", "record_types", "corrections", "default_mode", "limits", "closed_periods",
           "rate_limit", "retries"}  # fmt: skip
    _expect_keys(r, doc, (), top, {"version", "record_types", "corrections", "limits"})
    if doc["version"] != 1:
        raise r.error(("version",), f"unsupported policy version {doc['version']!r} (expected 1)")

    rules: dict[str, RecordRule] = {}
    _expect_keys(r, doc["record_types"], ("record_types",), set(RECORD_TYPES), set())
    for rtype, rule in doc["record_types"].items():
        p = ("record_types", rtype)
        _expect_keys(r, rule, p, {"actions", "fields"}, {"actions", "fields"})
        actions = _str_list(r, rule["actions"], (*p, "actions"), ACTIONS)
        fields = _str_list(r, rule["fields"], (*p, "fields"), None)
        rules[rtype] = RecordRule(frozenset(actions), frozenset(fields))

    if not isinstance(doc["corrections"], dict):
        raise r.error(("corrections",), "expected a mapping of exception type -> mode")
    corrections: dict[str, str] = {}
    for etype, mode in doc["corrections"].items():
        if mode not in MODES:
            raise r.error(("corrections", etype), f"mode {mode!r} is not one of {', '.join(MODES)}")
        corrections[etype] = mode
    default_mode = doc.get("default_mode", "approval")
    if default_mode not in MODES:
        raise r.error(("default_mode",), f"mode {default_mode!r} is not one of {', '.join(MODES)}")

    lim = doc["limits"]
    _expect_keys(
        r, lim, ("limits",),
        {"max_auto_amount_delta_usd", "max_amount_delta_usd", "max_rows_per_run",
         "circuit_breaker"},
        {"max_auto_amount_delta_usd", "max_amount_delta_usd", "max_rows_per_run"},
    )  # fmt: skip
    auto_max = _money(r, lim["max_auto_amount_delta_usd"], ("limits", "max_auto_amount_delta_usd"))
    hard_max = _money(r, lim["max_amount_delta_usd"], ("limits", "max_amount_delta_usd"))
    if hard_max < auto_max:
        raise r.error(
            ("limits", "max_amount_delta_usd"),
            "must not be below max_auto_amount_delta_usd (what is refused cannot be automatic)",
        )
    max_rows = _number(r, lim["max_rows_per_run"], ("limits", "max_rows_per_run"),
                       integer=True, low=1, high=10_000_000)  # fmt: skip
    breaker = lim.get("circuit_breaker", {"max_rejected_share": 0.2, "min_attempts": 10})
    bp = ("limits", "circuit_breaker")
    _expect_keys(r, breaker, bp, {"max_rejected_share", "min_attempts"}, {"max_rejected_share"})
    share = _number(r, breaker["max_rejected_share"], (*bp, "max_rejected_share"),
                    integer=False, low=0, high=1)  # fmt: skip
    min_attempts = _number(r, breaker.get("min_attempts", 10), (*bp, "min_attempts"),
                           integer=True, low=1, high=1_000_000)  # fmt: skip

    cp = doc.get("closed_periods", {})
    cpp = ("closed_periods",)
    _expect_keys(
        r, cp, cpp, {"from_erp", "through", "months", "propose_adjusting_documents"}, set()
    )
    for flag in ("from_erp", "propose_adjusting_documents"):
        if flag in cp and not isinstance(cp[flag], bool):
            raise r.error((*cpp, flag), "expected true or false")
    through = cp.get("through")
    if through is not None:
        through = _month(r, through, (*cpp, "through"))
    months_raw = cp.get("months", [])
    if not isinstance(months_raw, list):
        raise r.error((*cpp, "months"), 'expected a list of months like "2025-06"')
    months = frozenset(_month(r, m, (*cpp, "months", str(i))) for i, m in enumerate(months_raw))

    rl = doc.get("rate_limit", {})
    _expect_keys(r, rl, ("rate_limit",), {"requests_per_second", "concurrency"}, set())
    rps = _number(r, rl.get("requests_per_second", 10), ("rate_limit", "requests_per_second"),
                  integer=False, low=0.01, high=100_000)  # fmt: skip
    conc = _number(r, rl.get("concurrency", 4), ("rate_limit", "concurrency"),
                   integer=True, low=1, high=64)  # fmt: skip

    rt = doc.get("retries", {})
    _expect_keys(r, rt, ("retries",), {"max_attempts", "backoff_seconds", "max_backoff_seconds"},
                 set())  # fmt: skip
    attempts = _number(r, rt.get("max_attempts", 8), ("retries", "max_attempts"),
                       integer=True, low=1, high=100)  # fmt: skip
    backoff = _number(r, rt.get("backoff_seconds", 0.2), ("retries", "backoff_seconds"),
                      integer=False, low=0, high=60)  # fmt: skip
    max_backoff = _number(r, rt.get("max_backoff_seconds", 8.0), ("retries", "max_backoff_seconds"),
                          integer=False, low=0, high=600)  # fmt: skip

    return Policy(
        record_types=rules,
        corrections=corrections,
        default_mode=default_mode,
        max_auto_amount_delta_usd=auto_max,
        max_amount_delta_usd=hard_max,
        max_rows_per_run=max_rows,
        breaker_share=float(share),
        breaker_min_attempts=min_attempts,
        closed_from_erp=cp.get("from_erp", True),
        closed_through=through,
        closed_months=months,
        propose_adjusting=cp.get("propose_adjusting_documents", True),
        requests_per_second=float(rps),
        concurrency=conc,
        max_attempts=attempts,
        backoff_seconds=float(backoff),
        max_backoff_seconds=float(max_backoff),
        source=source,
        sha=hashlib.sha256(text.encode()).hexdigest()[:16],
    )


def load_policy(path: Path | str | None = None) -> Policy:
    """Read and validate the policy file (the repository's `reverse_etl/policy.yml` by default).

    Raises:
        PolicyError: when the file is missing or invalid, naming the line.
    """
    file = Path(path) if path is not None else DEFAULT_POLICY_PATH
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"{file}:1: cannot read the policy: {exc.strerror or exc}") from None
    return parse_policy(text, str(file))
