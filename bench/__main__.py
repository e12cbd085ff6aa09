"""Benchmarks that print their figures: `make bench` (medium) and `make bench-large`.

`make bench-large` (`--large`) adds the `large` sandbox (over a million invoices) and runs the
whole cycle on it through the CLI, full and then incremental (bench/cycle.py); `make bench` runs
that cycle at `medium`. `--cycle-scale` picks another scale (`small` to try it out) and
`--cycle-sandbox-from HOME` uses an already generated sandbox (advanced in place). At the end,
the targets of issue 15 are printed together with their same-run baselines (docs/benchmarks.md).

Each figure comes with a baseline measured in the same run, because these machines are noisy:
a ratio against something measured seconds earlier means more than an absolute number.

Sandbox:
- generation of a scale: wall time and peak RSS (in a child process, so the figure is the
  generator's alone), against the storage floor: copying the same rows into a fresh SQLite file.
- records per second served by each API for a full paged read, against reading the same rows
  straight from SQLite in the same process.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from closeloop.settings import disable_telemetry
from sandbox.defaults import SANDBOX_DEFAULT_TOKENS

disable_telemetry()


def _generate_in_child(home: Path, scale: str, seed: int) -> dict[str, Any]:
    code = (
        "import json,sys;from sandbox.generator import generate;"
        "from sandbox.schema import SandboxPaths;"
        f"m=generate(SandboxPaths.under({str(home)!r}),seed={seed},scale={scale!r});"
        "print(json.dumps(m['counts']))"
    )
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if proc.returncode:
        raise SystemExit(f"generation failed:\n{proc.stderr[-3000:]}")
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    counts = json.loads(proc.stdout.strip().splitlines()[-1])
    return {
        "seconds": seconds,
        "peak_rss_mb": max(peak_kb, before) / 1024,
        "rows": sum(counts.values()),
        "counts": counts,
    }


def _storage_floor(sandbox_root: Path) -> dict[str, float]:
    """Copy every row of the generated databases into fresh files: the cost of storage alone."""
    rows = 0
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for db in sorted(sandbox_root.glob("*.sqlite")):
            src = sqlite3.connect(db)
            dst = sqlite3.connect(Path(tmp) / db.name)
            dst.execute("pragma journal_mode=wal")
            dst.execute("pragma synchronous=normal")
            for name, sql in src.execute(
                "select name, sql from sqlite_master where type='table' and sql is not null"
                " and name not like 'sqlite_%'"
            ).fetchall():
                dst.execute(sql)
                cur = src.execute(f'select * from "{name}"')
                width = len(cur.description)
                marks = ",".join("?" * width)
                while batch := cur.fetchmany(20_000):
                    dst.executemany(f'insert into "{name}" values ({marks})', batch)
                    rows += len(batch)
            dst.commit()
            src.close()
            dst.close()
    return {"seconds": time.perf_counter() - started, "rows": rows}


def _read_crm(http: httpx.Client, url: str) -> int:
    token = SANDBOX_DEFAULT_TOKENS["crm"]
    headers = {"Authorization": f"Bearer {token}"}
    q = (
        "SELECT Id, Name, Website, Industry, BillingCountry, CurrencyIsoCode, CreatedDate, "
        "SystemModstamp FROM Account"
    )
    body = http.get(f"{url}/services/data/v61.0/queryAll", params={"q": q}, headers=headers).json()
    n = len(body["records"])
    while not body["done"]:
        body = http.get(url + body["nextRecordsUrl"], headers=headers).json()
        n += len(body["records"])
    return n


def _read_billing(http: httpx.Client, url: str) -> int:
    headers = {
        "Authorization": f"Bearer {SANDBOX_DEFAULT_TOKENS['billing']}",
        "Stripe-Version": "2024-06-20",
    }
    params: dict[str, Any] = {"limit": 100}
    n = 0
    while True:
        body = http.get(f"{url}/v1/invoices", params=params, headers=headers).json()
        n += len(body["data"])
        if not body["has_more"]:
            return n
        params["starting_after"] = body["data"][-1]["id"]


def _read_erp(http: httpx.Client, url: str) -> int:
    headers = {"Authorization": f"Bearer {SANDBOX_DEFAULT_TOKENS['erp']}", "Prefer": "transient"}
    q = {
        "q": "SELECT uniquekey, transaction, id, item, quantity, rate, foreignamount "
        "FROM transactionline WHERE uniquekey < 100000 ORDER BY uniquekey"
    }
    next_url: str | None = f"{url}/services/rest/query/v1/suiteql?limit=1000&offset=0"
    n = 0
    while next_url:
        body = http.post(next_url, json=q, headers=headers).json()
        n += len(body["items"])
        next_url = (
            next((link["href"] for link in body["links"] if link["rel"] == "next"), None)
            if body["hasMore"]
            else None
        )
    return n


def _direct_rate(db: Path, sql: str) -> float:
    con = sqlite3.connect(db)
    started = time.perf_counter()
    n = sum(1 for _ in con.execute(sql))
    seconds = time.perf_counter() - started
    con.close()
    return n / seconds if seconds else float("inf")


def bench_sandbox(scale: str, seed: int, home: Path) -> dict[str, Any]:
    """Generation and serving figures for one scale."""
    from sandbox.schema import SandboxPaths
    from sandbox.server import ServeOptions, running

    print(f"== sandbox: generate {scale} (seed {seed}) ==", flush=True)
    gen = _generate_in_child(home, scale, seed)
    paths = SandboxPaths.under(home)
    floor = _storage_floor(paths.root)
    ratio = gen["seconds"] / floor["seconds"] if floor["seconds"] else float("nan")
    print(
        f"generation: {gen['seconds']:.1f} s, {gen['rows']:,} rows "
        f"({gen['rows'] / gen['seconds']:,.0f} rows/s), peak RSS {gen['peak_rss_mb']:,.0f} MB"
    )
    print(
        f"storage floor (copy the same rows into fresh SQLite): {floor['seconds']:.1f} s "
        f"-> generation costs {ratio:.1f}x the floor"
    )
    for table in ("invoices", "invoice_lines", "charges", "events"):
        if table in gen["counts"]:
            print(f"  {table}: {gen['counts'][table]:,}")

    served: dict[str, Any] = {}
    options = ServeOptions(
        ports={"crm": 0, "billing": 0, "erp": 0}, tokens=dict(SANDBOX_DEFAULT_TOKENS)
    )
    direct_sql = {
        "crm": (paths.crm, 'select * from "Account"'),
        "billing": (paths.billing, "select doc from invoices order by created desc, id desc"),
        "erp": (paths.erp, 'select * from "transactionline" where uniquekey < 100000'),
    }
    readers = {"crm": _read_crm, "billing": _read_billing, "erp": _read_erp}
    with running(paths, options) as sandbox, httpx.Client(timeout=120) as http:
        for system, reader in readers.items():
            started = time.perf_counter()
            n = reader(http, sandbox.urls[system])
            seconds = time.perf_counter() - started
            rate = n / seconds if seconds else float("inf")
            direct = _direct_rate(*direct_sql[system])
            served[system] = {
                "records": n,
                "seconds": seconds,
                "records_per_s": rate,
                "direct_sqlite_rows_per_s": direct,
                "ratio": rate / direct,
            }
            print(
                f"{system:<8} full paged read: {n:,} records in {seconds:.2f} s = "
                f"{rate:,.0f} records/s; SQLite read alone {direct:,.0f} rows/s "
                f"(API at {rate / direct:.1%} of it)",
                flush=True,
            )
    return {
        "generation": gen,
        "storage_floor": floor,
        "generation_vs_floor": ratio,
        "served": served,
    }


SECTIONS = ("sandbox", "ingestion", "dbt", "writeback", "orchestration", "cycle")


def _section(name: str, home: Path) -> dict[str, Any] | None:
    """Run one later-stage benchmark if its module exists (each prints its own figures)."""
    import importlib

    try:
        module = importlib.import_module(f"bench.{name}")
    except ModuleNotFoundError:
        print(f"== {name}: not built yet, skipped ==")
        return None
    print(f"== {name} ==", flush=True)
    result: dict[str, Any] = getattr(module, f"bench_{name}")(home)
    return result


def _related(results: dict[str, Any]) -> dict[str, str]:
    """The other sections' figures that issue 15 sets targets for, as printable lines."""
    out: dict[str, str] = {}
    orch = results.get("orchestration")
    if orch and orch.get("dagster_over_cli"):
        ratio = orch["dagster_over_cli"]
        out["Dagster / plain CLI"] = (
            f"{ratio:.2f}x at {orch.get('scale', 'medium')} (target <= 1.1x): "
            f"{'met' if ratio <= 1.1 else 'MISSED'}"
        )
    ingestion = results.get("ingestion")
    if ingestion and ingestion.get("closeloop_vs_naive"):
        speedup = ingestion["closeloop_vs_naive"]
        out["closeloop ingestion / naive pipeline"] = (
            f"{speedup:.1f}x faster at medium (target >= 10x): "
            f"{'met' if speedup >= 10 else 'MISSED'}"
        )
    return out


def _cycle(
    args: argparse.Namespace,
    results: dict[str, Any],
    tmp: Path,
    medium_home: Path,
    large_home: Path,
) -> dict[str, Any]:
    from bench.cycle import run_and_print

    scale = args.cycle_scale or ("large" if args.large else "medium")
    source: Path | None = args.cycle_sandbox_from
    if source is None:
        # reuse a sandbox this run generated at the same scale (the cycle advances it in place,
        # and it runs last)
        for candidate in (medium_home, large_home):
            manifest = candidate / "sandbox" / "manifest.json"
            if manifest.exists() and json.loads(manifest.read_text()).get("scale") == scale:
                source = candidate
    return run_and_print(tmp / f"cycle-{scale}", scale, source, _related(results))


def _targets(results: dict[str, Any]) -> None:
    """Issue 15's targets in one place, each against this run's baseline."""
    lines = [f"{k}: {v}" for k, v in _related(results).items()]
    cycle = results.get("cycle", {}).get("figures")
    if cycle:
        scale = results["cycle"]["scale"]
        lines.append(
            f"full cycle at {scale}: {cycle['full_cycle_s']:.0f} s "
            f"({cycle['full_cycle_vs_10_min']:.2f}x of 10 min)"
        )
        if cycle.get("incremental_vs_full") is not None:
            lines.append(
                f"incremental cycle at {scale}: {cycle['incremental_vs_full']:.1%} of the full"
            )
        if cycle.get("peak_rss_mb"):
            where = cycle["peak_rss_process"]
            lines.append(f"peak memory: {cycle['peak_rss_mb']:,.0f} MB ({where})")
    if lines:
        print("== targets (issue 15), same-run baselines ==")
        for line in lines:
            print(f"  {line}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--large",
        action="store_true",
        help="also generate the large scale, and run the cycle on it",
    )
    parser.add_argument(
        "--cycle-scale",
        choices=("small", "medium", "large"),
        help="scale of the cycle section (default: large with --large, else medium)",
    )
    parser.add_argument(
        "--orchestration-scale",
        choices=("small", "medium", "large"),
        help="scale of the Dagster-vs-CLI comparison (default: medium)",
    )
    parser.add_argument(
        "--cycle-sandbox-from",
        type=Path,
        help="a CLOSELOOP_HOME whose sandbox the cycle uses (advanced in place) instead of one "
        "generated for it",
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--only", action="append", choices=SECTIONS, help="run only these sections (repeatable)"
    )
    parser.add_argument("--out", type=Path, default=Path(".closeloop/bench/results.json"))
    args = parser.parse_args(argv)
    only = set(args.only or SECTIONS)

    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="closeloop-bench-") as tmp:
        medium_home = Path(tmp) / "medium"
        if "sandbox" in only:
            results["sandbox_medium"] = bench_sandbox("medium", args.seed, medium_home)
        # later stages copy this medium sandbox (or generate one when it is missing)
        for name in SECTIONS[1:-1]:
            if name == "orchestration" and args.orchestration_scale not in (None, "medium"):
                if name in only:
                    from bench.orchestration import bench_orchestration

                    scale = args.orchestration_scale
                    print(f"== orchestration at {scale} ==", flush=True)
                    results[name] = bench_orchestration(Path(tmp) / f"orch-{scale}", scale)
                continue
            if name in only and (figures := _section(name, medium_home)) is not None:
                results[name] = figures
        large_home = Path(tmp) / "large"
        if args.large and "sandbox" in only and args.cycle_sandbox_from is None:
            results["sandbox_large"] = bench_sandbox("large", args.seed, large_home)
        if "cycle" in only:
            results["cycle"] = _cycle(args, results, Path(tmp), medium_home, large_home)
        _targets(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2, default=str))
    print(f"results written to {args.out}")


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main()
