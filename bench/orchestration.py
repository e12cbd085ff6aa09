"""Orchestration benchmark (`make bench`): `closeloop run` at medium scale, and Dagster's overhead.

Two runs of the whole loop over identical copies of the same medium sandbox, served by this
process (so neither run shares its interpreter with the APIs):

- through Dagster: `closeloop run --json` in a child process (every asset and check in one
  in-process run); wall time, the step times Dagster records, and the child's peak RSS;
- the plain CLI steps, each a child process: `closeloop ingest all`, `closeloop transform build`,
  `closeloop writeback plan`, `closeloop writeback apply`, `closeloop ingest erp`,
  `closeloop transform run` of what the verify asset rebuilds, `closeloop writeback verify`.

Dagster's overhead is the ratio of the two wall times (1.0 = free). The CLI path pays a Python
start-up per step, which the in-process Dagster run does not: the ratio is what an operator
sees, not Dagster's bookkeeping alone, so both the per-stage times are printed too.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from closeloop.settings import TELEMETRY_OFF, disable_telemetry
from sandbox.defaults import SANDBOX_DEFAULT_TOKENS

disable_telemetry()

SCALE = "medium"
SEED = 42
BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parent.parent


def _ensure_sandbox(home: Path, scale: str) -> None:
    from sandbox.schema import SandboxPaths

    if SandboxPaths.under(home).exists():
        return
    print(f"generating a {scale} sandbox under {home}", flush=True)
    code = (
        "from sandbox.generator import generate;from sandbox.schema import SandboxPaths;"
        f"generate(SandboxPaths.under({str(home)!r}),seed={SEED},scale={scale!r})"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def _copy(home: Path, target: Path) -> Path:
    from sandbox.schema import SandboxPaths

    shutil.copytree(SandboxPaths.under(home).root, SandboxPaths.under(target).root)
    return target


def _child(cmd: list[str], env: dict[str, str]) -> tuple[float, bool, str]:
    """Run a child; returns (seconds, succeeded, stdout). A failure is reported, not raised:
    the figures of the other steps still mean something."""
    started = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False, cwd=ROOT)
    seconds = time.perf_counter() - started
    if proc.returncode:
        tail = (proc.stderr or proc.stdout)[-1500:]
        print(f"  {' '.join(Path(c).name for c in cmd[:3])} failed ({proc.returncode}):\n{tail}")
    return seconds, proc.returncode == 0, proc.stdout


def _env(home: Path, urls: dict[str, str]) -> dict[str, str]:
    from orchestration.loop import SOURCE_ENV

    env = {k: v for k, v in os.environ.items() if not k.startswith("SOURCES__")}
    env.update(TELEMETRY_OFF)
    env["CLOSELOOP_HOME"] = str(home)
    env["CLOSELOOP_DUCKDB_PATH"] = str(home / "closeloop.duckdb")
    env["CLOSELOOP_APPROVER"] = "bench"
    for system, (url_env, token_env) in SOURCE_ENV.items():
        env[url_env] = urls[system]
        env[token_env] = SANDBOX_DEFAULT_TOKENS[system]
    return env


def _through_dagster(home: Path, urls: dict[str, str]) -> dict[str, Any]:
    """`closeloop run --json` in a child, under `/usr/bin/time -v` when it exists: its peak RSS
    is the child's own (the largest process of its tree), whatever this process ran before."""
    from bench.cycle import GNU_TIME, _rss_from_time

    cmd = [str(BIN / "closeloop"), "run", "--json"]
    with tempfile.TemporaryDirectory(prefix="closeloop-bench-time-") as tmp:
        report = Path(tmp) / "time.txt"
        if GNU_TIME.exists():
            cmd = [str(GNU_TIME), "-v", "-o", str(report), *cmd]
        seconds, _, stdout = _child(cmd, _env(home, urls))
        peak = _rss_from_time(report)
    start = stdout.find("{")
    summary = json.loads(stdout[start:]) if start >= 0 else {}
    return {"seconds": seconds, "summary": summary, "peak_rss_mb": peak}


def _plain_cli(home: Path, urls: dict[str, str]) -> tuple[dict[str, float], list[str]]:
    from orchestration.defs.writeback.assets import VERIFY_REBUILD

    closeloop = str(BIN / "closeloop")
    steps = {
        "ingest all": [closeloop, "ingest", "all"],
        "transform build": [closeloop, "transform", "build"],
        "writeback plan": [closeloop, "writeback", "plan", "--show", "1"],
        "writeback apply": [closeloop, "writeback", "apply"],
        "ingest erp": [closeloop, "ingest", "erp"],
        "transform run (verify rebuild)": [
            closeloop,
            "transform",
            "run",
            "--select",
            VERIFY_REBUILD,
        ],
        "writeback verify": [closeloop, "writeback", "verify"],
    }
    env = _env(home, urls)
    times: dict[str, float] = {}
    failed: list[str] = []
    for name, cmd in steps.items():
        times[name], ok, stdout = _child(cmd, env)
        if not ok:
            failed.append(name)
        # what the step says it did (dbt's counts, the plan's decisions), so a fast step can
        # be told from one that did less
        said = [line.strip() for line in stdout.splitlines() if line.strip()]
        summary = next((line for line in said if line.startswith(("dbt ", "plan stored"))), "")
        print(
            f"  cli {name:<26} {times[name]:7.1f} s{'' if ok else '  FAILED'}"
            f"{'  ' + summary[:160] if summary else ''}",
            flush=True,
        )
    return times, failed


def bench_orchestration(home: Path, scale: str = SCALE) -> dict[str, Any]:
    """`closeloop run` at `scale` (wall, stages, peak RSS) and its overhead over the plain CLI.

    Args:
        home: a `CLOSELOOP_HOME` holding the sandbox to copy (generated there when missing).
        scale: the sandbox scale to generate when `home` has none.

    Returns:
        The figures, also printed.
    """
    from orchestration.project import ensure_manifest
    from sandbox.schema import SandboxPaths
    from sandbox.server import ServeOptions, running

    _ensure_sandbox(home, scale)
    ensure_manifest(force=True)
    results: dict[str, Any] = {"scale": scale}
    with tempfile.TemporaryDirectory(prefix="closeloop-bench-orch-") as tmp:
        runs = {"dagster": Path(tmp) / "dagster", "cli": Path(tmp) / "cli"}
        for target in runs.values():
            _copy(home, target)
        options = ServeOptions(
            ports={"crm": 0, "billing": 0, "erp": 0}, tokens=dict(SANDBOX_DEFAULT_TOKENS)
        )
        with running(SandboxPaths.under(runs["dagster"]), options) as sandbox:
            urls = {k: str(v) for k, v in sandbox.urls.items()}
            before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
            dagster = _through_dagster(runs["dagster"], urls)
            peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
            if dagster["peak_rss_mb"] is not None:
                before, peak = 0.0, dagster["peak_rss_mb"]
        summary = dagster["summary"]
        results["dagster"] = {
            "wall_seconds": round(dagster["seconds"], 2),
            "peak_rss_mb": round(peak, 1) if peak > before else None,
            "stage_seconds": summary.get("stage_seconds", {}),
            "rows_landed": summary.get("rows_landed", {}),
            "models_built": summary.get("models_built"),
            "corrections": summary.get("corrections", {}),
            "success": summary.get("success", False),
            "failures": [f[:300] for f in summary.get("failures", [])],
        }
        print(
            f"closeloop run ({scale}): {dagster['seconds']:.1f} s wall, peak RSS "
            f"{results['dagster']['peak_rss_mb']} MB, success {results['dagster']['success']}",
            flush=True,
        )
        stages = results["dagster"]["stage_seconds"]
        for step, sec in sorted(stages.items(), key=lambda kv: -kv[1])[:8]:
            print(f"  dagster {step:<40} {sec:7.1f} s")
        with running(SandboxPaths.under(runs["cli"]), options) as sandbox:
            urls = {k: str(v) for k, v in sandbox.urls.items()}
            cli, cli_failed = _plain_cli(runs["cli"], urls)
    cli_total = sum(cli.values())
    ratio = dagster["seconds"] / cli_total if cli_total else float("nan")
    results["cli"] = {"wall_seconds": round(cli_total, 2), "steps": cli, "failed": cli_failed}
    results["dagster_over_cli"] = round(ratio, 3)
    print(
        f"plain CLI steps: {cli_total:.1f} s; through Dagster: {dagster['seconds']:.1f} s "
        f"-> Dagster/CLI = {ratio:.2f}x"
    )
    return results


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bench.orchestration", description=__doc__)
    parser.add_argument("home", type=Path, nargs="?", help="CLOSELOOP_HOME with a sandbox")
    parser.add_argument("--scale", default=SCALE)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="closeloop-bench-") as scratch:
        figures = bench_orchestration(args.home or Path(scratch) / args.scale, args.scale)
    print(json.dumps(figures, indent=2, default=str))
