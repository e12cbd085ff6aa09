"""dbt benchmark (`make bench`): `dbt build` at `medium` from scratch, then after ~1% changes.

Figures:

1. full: `dbt build --full-refresh` on a fresh `medium` landing;
2. incremental: `dbt build` after `advance` moved the company three days (about 1% of the
   source records new or changed) and ingestion landed the changes; and the ratio of the two
   (issue 15's target: 10% or less);
3. where the time goes: the slowest nodes of each build (run_results.json), and the floor every
   invocation pays: `dbt build` selecting nothing (start, partial parse, on-run-start hooks);
4. correctness at `medium`: recon precision/recall per exception type against the ground
   truth and the KPI tie-out with the ledger (figures differing), measured on the full build.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import duckdb

from closeloop.settings import (
    HOME_ENV,
    WAREHOUSE_ENV,
    Settings,
    disable_telemetry,
    source_env_values,
)
from sandbox.defaults import SANDBOX_DEFAULT_TOKENS
from transform import patched_env, run_dbt

disable_telemetry()

SCALE = "medium"
SEED = 42
ADVANCE_DAYS = 3
TARGET_RATIO = 0.10
SLOWEST = 12


def _env(home: Path, urls: Mapping[str, str]) -> dict[str, str]:
    env = {HOME_ENV: str(home), WAREHOUSE_ENV: "duckdb"}
    env.update(source_env_values(urls, SANDBOX_DEFAULT_TOKENS))
    return env


def _ingest(home: Path) -> float:
    """Serve the sandbox under `home` and ingest everything; seconds taken."""
    from ingestion.pipelines import run_ingest
    from sandbox.schema import SandboxPaths
    from sandbox.server import ServeOptions, running

    opts = ServeOptions(
        ports={"crm": 0, "billing": 0, "erp": 0}, tokens=dict(SANDBOX_DEFAULT_TOKENS)
    )
    with running(SandboxPaths.under(home), opts) as sandbox, patched_env(_env(home, sandbox.urls)):
        started = time.perf_counter()
        run_ingest()
        return time.perf_counter() - started


def _slowest(target: Path, n: int = SLOWEST) -> list[tuple[str, float]]:
    """The `n` slowest nodes of the last dbt invocation (`model.fct_invoice`, seconds)."""
    results = json.loads((target / "run_results.json").read_text())["results"]
    timed = [
        (".".join(r["unique_id"].split(".")[::2][:2]), float(r["execution_time"])) for r in results
    ]
    return sorted(timed, key=lambda t: -t[1])[:n]


def _print_slowest(label: str, slowest: list[tuple[str, float]]) -> None:
    print(f"  slowest nodes ({label}):")
    for name, seconds in slowest:
        print(f"    {seconds:7.2f} s  {name}")


def _rows(settings: Settings, sql: str) -> list[dict[str, Any]]:
    con = duckdb.connect(str(settings.duckdb_path))
    try:
        cur = con.execute(sql)
        names = [d[0] for d in cur.description or []]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    finally:
        con.close()


def _correctness(home: Path, settings: Settings) -> dict[str, Any]:
    from tests.dbt.scoring import load_truth, score
    from tests.dbt.tieout import compare, load_ledger

    scores = score(_rows(settings, "select * from recon.recon_exceptions"), load_truth(home))
    diffs = compare(_rows(settings, "select * from kpi.kpi_monthly"), load_ledger(home))
    return {
        "recon": {
            name: {"precision": s.precision, "recall": s.recall, "tp": s.true_positive}
            for name, s in sorted(scores.items())
        },
        "kpi_figures_differing": len(diffs),
        "kpi_differences_sample": [str(d) for d in diffs[:5]],
    }


def bench_dbt(home: Path) -> dict[str, Any]:
    """Time `dbt build` on a `medium` landing from scratch and after ~1% of changes.

    Args:
        home: a closeloop home whose `sandbox/` holds a `medium` sandbox (generated when
            missing); it is copied, never changed.

    Returns:
        The figures (seconds, ratio, correctness), also printed.
    """
    from sandbox.generator import advance, generate
    from sandbox.schema import SandboxPaths

    with tempfile.TemporaryDirectory(prefix="closeloop-bench-dbt-") as tmp:
        work = Path(tmp) / "home"
        if (home / "sandbox" / "manifest.json").exists():
            shutil.copytree(home / "sandbox", work / "sandbox")
        else:
            generate(SandboxPaths.under(work), seed=SEED, scale=SCALE)
        settings = Settings.from_env({HOME_ENV: str(work)})
        target = work / "dbt-target"
        ingest_s = _ingest(work)

        started = time.perf_counter()
        full = run_dbt(["build", "--full-refresh"], settings, target="dev", target_path=target)
        full_s = time.perf_counter() - started
        slowest_full = _slowest(target)
        correctness = _correctness(work, settings)
        print(f"dbt build --full-refresh at {SCALE}: {full_s:.1f} s ({full.counts()})", flush=True)
        _print_slowest("full", slowest_full)
        for name, s in correctness["recon"].items():
            print(f"  recon {name:34} precision {s['precision']:.3f} recall {s['recall']:.3f}")
        print(f"  KPI figures differing from the ledger: {correctness['kpi_figures_differing']}")
        for line in correctness["kpi_differences_sample"]:
            print(f"    {line}")

        advance(SandboxPaths.under(work), days=ADVANCE_DAYS)
        ingest_incremental_s = _ingest(work)
        started = time.perf_counter()
        incremental = run_dbt(["build"], settings, target="dev", target_path=target)
        incremental_s = time.perf_counter() - started
        slowest_incremental = _slowest(target)

        # the floor of any invocation: start, partial parse and the on-run-start hooks
        started = time.perf_counter()
        run_dbt(
            ["build", "--select", "config.materialized:nothing_at_all"],
            settings,
            target="dev",
            target_path=target,
        )
        floor_s = time.perf_counter() - started

    result = {
        "scale": SCALE,
        "ingest_s": round(ingest_s, 1),
        "dbt_build_full_s": round(full_s, 1),
        "dbt_build_full_ok": full.success,
        "advance_days": ADVANCE_DAYS,
        "ingest_incremental_s": round(ingest_incremental_s, 1),
        "dbt_build_incremental_s": round(incremental_s, 1),
        "dbt_build_incremental_ok": incremental.success,
        "incremental_vs_full": round(incremental_s / full_s, 3) if full_s else None,
        "dbt_invocation_floor_s": round(floor_s, 1),
        "slowest_full": [(n, round(t, 2)) for n, t in slowest_full],
        "slowest_incremental": [(n, round(t, 2)) for n, t in slowest_incremental],
        **correctness,
    }
    print(
        f"dbt build after advance({ADVANCE_DAYS} days): {incremental_s:.1f} s "
        f"({incremental.counts()}), ratio {result['incremental_vs_full']:.0%} "
        f"(target <= {TARGET_RATIO:.0%})"
    )
    _print_slowest("incremental", slowest_incremental)
    print(
        f"  floor of one dbt invocation (build selecting nothing, partial parsing): {floor_s:.1f} s"
        f" = {floor_s / full_s:.0%} of the full build"
        if full_s
        else ""
    )
    return result


if __name__ == "__main__":
    bench_dbt(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(".closeloop"))
