"""Write-back benchmark (`make bench`): corrections applied per second with the ERP's rate limit on.

The ceiling is the ERP's configured request rate (the sandbox's `rps_limit`, NetSuite's
governance limit): an apply can never beat one write per allowed request, so the figure is
reported as corrections/s against that rate, as a ratio (1.0 = every allowed request was a
landed correction; a record the plan read in a batch costs two: apply's GET for its ETag and
the write, so 0.5 is the ceiling for those). The plan is made with the limit off (it is not
what is measured), then the limit is switched on at runtime (`PUT /_sandbox/faults`) and
`apply` runs with its client throttled to the same rate, as production would be configured.

The corrections are the auto-applicable updates among the sandbox's injected discrepancies
(customer names, invoices paid but left open, amounts in open periods), built from the ground
truth the way the dbt model builds them from `recon_exceptions`.

Before the apply, the plan itself is measured on those updates plus a create for every record
missing in the ERP (invoices, payments, customers): ERP requests and seconds with the creates'
existence and the updated records read in batched SuiteQL queries (`batch_reads`, the default)
and with one GET per correction, alternated twice in the same run (best of each), with a check
that both plans hold the same items, and the requests against issue 15's target (one per 50
corrections planned, plus one per correction applied). The plan runs unthrottled against the
sandbox; what it would take at the policy's governance rate is its requests divided by that
rate (the rate, not the sandbox, bounds it).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from closeloop.settings import disable_telemetry
from reverse_etl.apply import apply_plan
from reverse_etl.client import RecordClient, RetryPolicy
from reverse_etl.corrections import Correction
from reverse_etl.ledger import Ledger
from reverse_etl.plan import APPLY, UNCHANGED_PREFIX, Planner
from reverse_etl.policy import Policy, load_policy
from sandbox.defaults import SANDBOX_DEFAULT_TOKENS
from sandbox.schema import SandboxPaths

disable_telemetry()
log = logging.getLogger(__name__)

SCALE = "medium"
SEED = 42
#: The ERP's configured request rate for the run (requests per second).
RPS_LIMIT = 50.0
#: The client is configured this far under the ERP's limit, as production integrations are:
#: at exactly the limit, scheduling jitter pushes a request over now and then and the 429's
#: `Retry-After` stalls the whole integration for a second.
HEADROOM = 0.95
#: Most corrections applied (keeps the run near half a minute at the default rate).
MAX_CORRECTIONS = 1500
#: Issue 15's target for the plan: one request per this many corrections planned, plus one
#: per correction applied.
PLANNED_PER_REQUEST = 50


@contextmanager
def _serve_erp(home: Path) -> Iterator[str]:
    """Serve the sandbox in a child process (its own core, like a vendor); yield the ERP URL."""
    env = {**os.environ, "CLOSELOOP_HOME": str(home)}
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "closeloop.cli", "sandbox", "serve",
            "--crm-port", "0", "--billing-port", "0", "--erp-port", "0",
        ],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        url = None
        deadline = time.monotonic() + 60
        while url is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            match = re.match(r"^erp\s+(https?://\S+)", line.strip())
            url = match.group(1) if match else None
        if url is None:
            raise SystemExit("the sandbox did not start")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def _set_limit(url: str, rps: float) -> None:
    token = SANDBOX_DEFAULT_TOKENS["erp"]
    r = httpx.put(
        f"{url}/_sandbox/faults",
        json={"rps_limit": rps, "retry_after": 1},
        headers={"Authorization": f"Bearer {token}"},
    )
    r.raise_for_status()


def corrections_from_truth(root: Path) -> list[Correction]:
    """Auto-applicable update corrections for the sandbox's injected discrepancies."""
    erp = sqlite3.connect(root / "erp.sqlite")
    closed = {
        r[0]
        for r in erp.execute(
            'select t.id from "transaction" t join accountingperiod p on p.id = t.postingperiod '
            "where p.closed = 'T'"
        )
    }
    erp.close()
    out: list[Correction] = []
    for line in (root / "ground_truth.jsonl").read_text().splitlines():
        t = json.loads(line)
        etype, erp_id = t["exception_type"], t["erp_id"]
        base: dict[str, Any] = {
            "correction_id": f"corr-{t['id']}",
            "exception_id": t["id"],
            "exception_type": etype,
            "erp_id": erp_id,
            "current_value": t["wrong_value"],
            "desired_value": t["correct_value"],
            "action": "update",
        }
        if etype == "customer_attribute_mismatch":
            out.append(Correction(**base, record_type="customer", field="companyname",
                                  record_field="companyName"))  # fmt: skip
        elif etype == "invoice_status_mismatch" and t["correct_value"] == "B":
            out.append(Correction(**base, record_type="invoice", field="status",
                                  record_field="status"))  # fmt: skip
        elif etype == "invoice_amount_mismatch" and int(erp_id) not in closed:
            out.append(Correction(**base, record_type="invoice", field="foreigntotal",
                                  record_field="total"))  # fmt: skip
        elif etype == "payment_amount_mismatch" and int(erp_id) not in closed:
            out.append(Correction(**base, record_type="customerpayment", field="foreigntotal",
                                  record_field="payment"))  # fmt: skip
    return out


def _day(epoch: Any) -> str | None:
    if not isinstance(epoch, int):
        return None
    return time.strftime("%Y-%m-%d", time.gmtime(epoch))


def creates_from_truth(root: Path) -> list[Correction]:
    """Create corrections for the records the sandbox left out of the ERP (the plan's
    existence reads; the bodies carry what the plan looks at, not a whole record)."""
    billing = sqlite3.connect(root / "billing.sqlite")

    def doc(table: str, key: str) -> dict[str, Any]:
        row = billing.execute(f"select doc from {table} where id = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else {}

    out: list[Correction] = []
    for line in (root / "ground_truth.jsonl").read_text().splitlines():
        t = json.loads(line)
        etype = t["exception_type"]
        base: dict[str, Any] = {
            "correction_id": f"corr-{t['id']}",
            "exception_id": t["id"],
            "exception_type": etype,
            "action": "create",
        }
        if etype == "invoice_missing_in_erp":
            inv = doc("invoices", t["billing_id"])
            day = _day((inv.get("status_transitions") or {}).get("finalized_at"))
            payload = {"otherRefNum": t["billing_id"], **({"tranDate": day} if day else {})}
            out.append(Correction(**base, record_type="invoice", external_id=t["billing_id"],
                                  payload=payload))  # fmt: skip
        elif etype == "payment_missing_in_erp":
            day = _day(doc("charges", t["billing_id"]).get("created"))
            payload = {"otherRefNum": t["billing_id"], **({"tranDate": day} if day else {})}
            out.append(Correction(**base, record_type="customerpayment",
                                  external_id=t["billing_id"], payload=payload))  # fmt: skip
        elif etype == "customer_missing_in_erp":
            out.append(Correction(**base, record_type="customer", external_id=t["crm_id"],
                                  payload={"companyName": f"Customer {t['crm_id']}"}))  # fmt: skip
    billing.close()
    return out


def same_items(batched: list[dict[str, Any]], per_record: list[dict[str, Any]]) -> bool:
    """Whether two plans hold the same items, but for what the read path sets: an item planned
    from a batched read holds the values read (`unchanged:`) where the per-record plan holds
    the GET's ETag, and the idempotency key derived from it."""
    if len(batched) != len(per_record):
        return False
    for b, p in zip(batched, per_record, strict=True):
        if str(b.get("if_match") or "").startswith(UNCHANGED_PREFIX):
            b = {k: v for k, v in b.items() if k not in ("if_match", "idempotency_key")}
            p = {k: v for k, v in p.items() if k not in ("if_match", "idempotency_key")}
        if b != p:
            return False
    return True


def bench_plan_reads(
    url: str, policy: Policy, corrections: list[Correction], governed_rps: float
) -> dict[str, Any]:
    """Plan the same corrections with batched reads (SuiteQL: creates' external ids and the
    records of updates, deletes and transforms) and with one GET per correction, alternated
    twice (best of each): requests, seconds, the seconds at `governed_rps`, and the requests
    against issue 15's target (1 per 50 corrections planned, plus 1 per correction applied)."""
    retry = RetryPolicy(policy.max_attempts, policy.backoff_seconds, 2.0)
    best: dict[bool, tuple[float, int]] = {}
    plans: dict[bool, list[dict[str, Any]]] = {}
    for batch in (False, True, False, True):
        with RecordClient(url, SANDBOX_DEFAULT_TOKENS["erp"], 10_000.0, retry) as client:
            started = time.perf_counter()
            items = Planner(client, policy, batch_reads=batch).plan(corrections)
            seconds = time.perf_counter() - started
            requests = client.requests_sent
        plans[batch] = [i.as_dict() for i in items]
        if batch not in best or seconds < best[batch][0]:
            best[batch] = (seconds, requests)
    batched = plans[True]
    to_apply = sum(1 for i in batched if i["decision"] == APPLY)
    # apply reads a batch-planned record once more, right before its write (the ETag)
    apply_reads = sum(
        1
        for i in batched
        if i["decision"] == APPLY and str(i.get("if_match") or "").startswith(UNCHANGED_PREFIX)
    )
    figures: dict[str, Any] = {
        "corrections": len(corrections),
        "creates": sum(1 for c in corrections if c.action == "create"),
        "planned_items": len(batched),
        "to_apply": to_apply,
        "same_items": same_items(batched, plans[False]),
        "governed_rps": governed_rps,
    }
    for batch, name in ((False, "per_record"), (True, "batched")):
        seconds, requests = best[batch]
        figures[f"{name}_requests"] = requests
        figures[f"{name}_seconds"] = round(seconds, 2)
        figures[f"{name}_governed_seconds"] = round(requests / governed_rps, 1)
    figures["requests_ratio"] = round(best[True][1] / best[False][1], 4)
    figures["seconds_ratio"] = round(best[True][0] / best[False][0], 3)
    figures["requests_per_correction"] = round(best[True][1] / len(batched), 4)
    budget = math.ceil(len(batched) / PLANNED_PER_REQUEST) + to_apply
    figures["request_budget"] = budget
    figures["within_budget"] = best[True][1] <= budget
    # plan and apply together: the per-record plan's apply writes with the plan's ETag
    figures["apply_reads"] = apply_reads
    figures["reads_with_apply_batched"] = best[True][1] + apply_reads
    figures["reads_with_apply_per_record"] = best[False][1]
    return figures


def _sandbox_copy(home: Path, work: Path) -> Path:
    """A private copy of the `medium` sandbox under `home` (generated there if absent)."""
    source = SandboxPaths.under(home)
    manifest = source.root / "manifest.json"
    if not (source.exists() and json.loads(manifest.read_text()).get("scale") == SCALE):
        from sandbox.generator import generate

        log.info("generating a %s sandbox under %s", SCALE, home)
        generate(source, seed=SEED, scale=SCALE)
    target = work / "home"
    shutil.copytree(source.root, target / "sandbox", ignore=shutil.ignore_patterns("tls"))
    return target


def bench_writeback(
    home: Path,
    rps_limit: float = RPS_LIMIT,
    max_corrections: int = MAX_CORRECTIONS,
    headroom: float = HEADROOM,
) -> dict[str, Any]:
    """Corrections/s of `apply` against the ERP's rate limit, at `medium` scale.

    Args:
        home: a CLOSELOOP_HOME holding (or to hold) the `medium` sandbox; it is copied, never
            written to.
        rps_limit: the ERP's request rate limit (the ceiling).
        max_corrections: most corrections to apply.
        headroom: the client's configured rate as a share of the limit.

    Returns:
        Figures: corrections applied, seconds, corrections/s, the limit and their ratio.
    """
    with tempfile.TemporaryDirectory(prefix="closeloop-bench-wb-") as tmp:
        work = _sandbox_copy(home, Path(tmp))
        corrections = corrections_from_truth(work / "sandbox")
        creates = creates_from_truth(work / "sandbox")
        governed = load_policy()
        policy = dataclasses.replace(
            governed,
            requests_per_second=rps_limit * headroom,
            max_rows_per_run=max_corrections,
        )
        with _serve_erp(work) as url:
            retry = RetryPolicy(policy.max_attempts, policy.backoff_seconds, 2.0)
            fast = RecordClient(url, SANDBOX_DEFAULT_TOKENS["erp"], 10_000.0, retry)
            started = time.perf_counter()
            items = Planner(fast, policy).plan(corrections)
            plan_seconds = time.perf_counter() - started
            fast.close()
            plan_reads = bench_plan_reads(
                url, policy, corrections + creates, governed.requests_per_second
            )
            ready = [i for i in items if i.decision == APPLY][:max_corrections]
            with Ledger(Path(tmp) / "warehouse.duckdb") as ledger:
                ledger.store_plan(ready, "bench")
                _set_limit(url, rps_limit)
                client = RecordClient(
                    url, SANDBOX_DEFAULT_TOKENS["erp"], policy.requests_per_second, retry
                )
                result = apply_plan(ledger, client, policy)
                client.close()
        applied = result.applied + result.already_landed
        rate = applied / result.seconds if result.seconds else 0.0
        figures = {
            "scale": SCALE,
            "corrections_planned": len(items),
            "plan_seconds": round(plan_seconds, 2),
            "corrections_applied": applied,
            "apply_seconds": round(result.seconds, 2),
            "requests": result.requests,
            "corrections_per_s": round(rate, 2),
            "erp_rps_limit": rps_limit,
            "client_rps": policy.requests_per_second,
            "ratio_to_limit": round(rate / rps_limit, 3),
            "failed": result.failed + result.rejected,
            "plan_reads": plan_reads,
        }
    _report(figures)
    return figures


def _report(figures: dict[str, Any]) -> None:
    """Print the figures (`make bench` and `python -m bench.writeback` alike)."""
    print(
        f"write-back: {figures['corrections_per_s']} corrections/s with the ERP limited to "
        f"{figures['erp_rps_limit']:g} requests/s: ratio {figures['ratio_to_limit']} "
        f"({figures['requests']} requests for {figures['corrections_applied']} corrections: "
        "a GET for the ETag and the write, for a record the plan read in a batch)"
    )
    r = figures["plan_reads"]
    print(
        f"plan of {r['corrections']} corrections ({r['creates']} creates, "
        f"{r['corrections'] - r['creates']} updates): batched {r['batched_requests']:,} ERP "
        f"requests in {r['batched_seconds']} s vs per record {r['per_record_requests']:,} in "
        f"{r['per_record_seconds']} s: requests ratio {r['requests_ratio']}, seconds ratio "
        f"{r['seconds_ratio']}; at {r['governed_rps']:g} requests/s "
        f"{r['batched_governed_seconds']} s vs {r['per_record_governed_seconds']} s; "
        f"same items: {r['same_items']}"
    )
    print(
        f"plan requests per correction planned: {r['requests_per_correction']} (target: 1 per "
        f"{PLANNED_PER_REQUEST} planned + 1 per correction applied = {r['request_budget']:,} "
        f"for {r['planned_items']:,} planned, {r['to_apply']:,} to apply): "
        f"{'met' if r['within_budget'] else 'MISSED'}; with apply's GETs "
        f"{r['reads_with_apply_batched']:,} reads vs {r['reads_with_apply_per_record']:,} "
        "per record"
    )


def main(argv: list[str] | None = None) -> None:
    """`python -m bench.writeback [HOME]`: run the benchmark and print its figures."""
    args = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for noisy in ("httpx", "httpcore"):  # one line per request would drown the figures
        logging.getLogger(noisy).setLevel(logging.WARNING)
    home = Path(args[0]) if args else Path(os.environ.get("CLOSELOOP_HOME", ".closeloop"))
    figures = bench_writeback(home.resolve())
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
