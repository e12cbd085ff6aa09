"""Cycle benchmark (`make bench-large`): the whole loop through the real CLI, full then incremental.

One sandbox of the chosen scale (`large` by default in `make bench-large`: over a million
invoices), served by a child process (`closeloop sandbox serve`), and the cycle run as separate
child processes, exactly as an operator would type them:

1. full cycle on an empty warehouse: `closeloop ingest all`, `closeloop transform build` (dbt:
   staging, core, recon, KPIs, write-back corrections; the recon models are part of this build
   and their share is read from dbt's `run_results.json`), `closeloop writeback plan`;
2. `closeloop sandbox advance --days 1` (the company moves a day: new, changed, deleted records);
3. incremental cycle: the same three commands again.

Each child runs under `/usr/bin/time -v` when it exists, so its peak RSS is the largest
resident set of any process of its tree (dlt's conversion worker included); the sandbox
server's own peak (`VmHWM`) is read before it stops. Each step's wall time, peak memory and what
it reports (rows landed, dbt models and seconds, plan decisions and ERP requests) are printed in
a table, with the targets of issue 15 as ratios against this run's own baselines:

- incremental cycle / full cycle (target <= 5%);
- incremental transform / full transform (target <= 10% at `medium`);
- the full cycle against 10 minutes, and every process's peak memory against 4 GB;
- the plan's ERP requests against one per 50 corrections planned plus one per correction to apply.

Where a target is missed, the figures that say where the time goes follow the table: per step,
dbt's slowest models and the time per model layer, and the plan's requests and seconds.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from closeloop.settings import TELEMETRY_OFF, disable_telemetry, source_env_values
from sandbox.defaults import SANDBOX_DEFAULT_TOKENS

disable_telemetry()

SCALE = "medium"
SEED = 42
ADVANCE_DAYS = 1
BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parent.parent
GNU_TIME = Path("/usr/bin/time")

#: Targets of issue 15 (2 cores).
FULL_CYCLE_TARGET_S = 600.0
PEAK_RSS_TARGET_MB = 4096.0
INCREMENTAL_CYCLE_TARGET = 0.05
INCREMENTAL_TRANSFORM_TARGET = 0.10
PLAN_CORRECTIONS_PER_READ = 50
#: A heartbeat line is printed this often while a step runs.
HEARTBEAT_S = 60.0


@dataclass
class Step:
    """One child process of the cycle and what it reported."""

    phase: str  # setup, full, incremental
    name: str
    command: list[str]
    seconds: float = 0.0
    peak_rss_mb: float | None = None
    ok: bool = False
    returncode: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    log: str = ""
    cpu_seconds: float | None = None  # user + system, the step's whole process tree

    @property
    def label(self) -> str:
        return " ".join(self.command[1:3])


# ---------------------------------------------------------------------------------------------
# running children


def _rss_from_time(path: Path) -> float | None:
    """Peak RSS in MB from `/usr/bin/time -v`'s report (kbytes)."""
    if not path.exists():
        return None
    match = re.search(r"Maximum resident set size \(kbytes\):\s*(\d+)", path.read_text())
    return int(match.group(1)) / 1024 if match else None


def _cpu_from_time(path: Path) -> float | None:
    """User + system CPU seconds from `/usr/bin/time -v`'s report."""
    if not path.exists():
        return None
    found = re.findall(r"(?:User|System) time \(seconds\):\s*([\d.]+)", path.read_text())
    return sum(float(x) for x in found) if found else None


def run_step(step: Step, env: dict[str, str], logs: Path, started_at: float) -> Step:
    """Run `step.command` as a child (under GNU time when present), its output to a log file.

    Prints one line when it ends (and a heartbeat while it runs). A failure is recorded, not
    raised: the figures of the other steps still mean something.
    """
    logs.mkdir(parents=True, exist_ok=True)
    slug = re.sub(r"[^a-z0-9]+", "-", f"{step.phase} {step.label}".lower()).strip("-")
    log_path = logs / f"{slug}.log"
    time_path = logs / f"{slug}.time"
    cmd = list(step.command)
    if GNU_TIME.exists():
        cmd = [str(GNU_TIME), "-v", "-o", str(time_path), *cmd]
    print(f"[{time.monotonic() - started_at:7.0f} s] {step.phase:<11} {step.label} ...", flush=True)
    begun = time.perf_counter()
    with log_path.open("w") as fh:
        proc = subprocess.Popen(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT, cwd=ROOT)
        while True:
            try:
                proc.wait(timeout=HEARTBEAT_S)
                break
            except subprocess.TimeoutExpired:
                print(
                    f"[{time.monotonic() - started_at:7.0f} s]   ... {step.label} still running "
                    f"({time.perf_counter() - begun:.0f} s)",
                    flush=True,
                )
    step.seconds = time.perf_counter() - begun
    step.returncode = proc.returncode
    step.ok = proc.returncode == 0
    step.peak_rss_mb = _rss_from_time(time_path)
    step.cpu_seconds = _cpu_from_time(time_path)
    step.log = str(log_path)
    output = log_path.read_text(errors="replace")
    step.detail = parse_output(step.command, output)
    if not step.ok:
        last = [line.strip() for line in output.splitlines() if line.strip()]
        step.detail["error"] = last[-1][:200] if last else f"exit {proc.returncode}"
    rss = f"{step.peak_rss_mb:,.0f} MB" if step.peak_rss_mb is not None else "n/a"
    print(
        f"[{time.monotonic() - started_at:7.0f} s] {step.phase:<11} {step.label}: "
        f"{step.seconds:.1f} s (CPU {step.cpu_seconds or 0:.1f} s), peak RSS {rss}"
        f"{'' if step.ok else '  FAILED'}",
        flush=True,
    )
    if not step.ok:
        print(f"  exit {proc.returncode}; last output ({log_path}):\n{output[-2000:]}", flush=True)
    return step


_SYSTEMS = ("crm", "billing", "erp")


def _ingest_row(line: str) -> tuple[str, str, int, float] | None:
    """(system, table, rows loaded, seconds) of a row of `closeloop ingest`'s summary table."""
    cells = [c.strip() for c in re.split(r"[│┃|]", line.strip()) if c.strip() != ""]
    # system, table, rows loaded, rejected, [deleted: empty on a system's total], seconds
    if len(cells) < 5 or cells[0] not in _SYSTEMS:
        return None
    try:
        return cells[0], cells[1], int(cells[2].replace(",", "")), float(cells[-1])
    except ValueError:
        return None


def parse_output(command: list[str], output: str) -> dict[str, Any]:
    """What a CLI step reports on stdout: ingest's per-table rows and seconds, dbt's seconds,
    the plan's decisions and ERP requests."""
    words = [Path(command[0]).name, *command[1:3]]
    detail: dict[str, Any] = {}
    if words[1] == "ingest":
        tables, systems = {}, {}
        for line in output.splitlines():
            row = _ingest_row(line)
            if row is None:
                continue
            system, table, rows, seconds = row
            figure = {"rows": rows, "seconds": seconds}
            if table == "total":
                systems[system] = figure
            else:
                tables[f"{system}.{table}"] = figure
        detail["tables"] = tables
        detail["systems"] = systems
        detail["rows_loaded"] = sum(t["rows"] for t in tables.values())
    elif words[1] == "transform":
        match = re.search(r"dbt \w+: (.*?) in ([\d.]+) s", output)
        if match:
            detail["dbt_seconds"] = float(match.group(2))
            detail["dbt_counts"] = match.group(1)
        detail["published"] = "read-only copy for BI" in output
        match = re.search(r"closeloop\.publish: published .*? in ([\d.]+) s", output)
        if match:
            detail["publish_seconds"] = float(match.group(1))
    elif words[1:3] == ["writeback", "plan"]:
        match = re.search(r"plan stored in the ledger \((.*?)\)", " ".join(output.split()))
        if match:
            counts: dict[str, int] = {}
            for part in match.group(1).split(","):
                key, _, value = part.strip().partition(": ")
                if value.strip().isdigit():
                    counts[key] = int(value)
            detail["counts"] = counts
    return detail


# ---------------------------------------------------------------------------------------------
# the sandbox server


@contextmanager
def _serve(home: Path, env: dict[str, str]) -> Iterator[tuple[dict[str, str], int]]:
    """`closeloop sandbox serve` in a child process; yields (urls by system, its pid)."""
    proc = subprocess.Popen(
        [
            str(BIN / "closeloop"), "sandbox", "serve",
            "--crm-port", "0", "--billing-port", "0", "--erp-port", "0",
        ],
        env={**env, "CLOSELOOP_HOME": str(home)},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )  # fmt: skip
    urls: dict[str, str] = {}
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 120
        while len(urls) < 3 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            match = re.match(r"^(crm|billing|erp)\s+(https?://\S+)", line.strip())
            if match:
                urls[match.group(1)] = match.group(2)
        if len(urls) < 3:
            raise SystemExit("the sandbox did not start")
        yield urls, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def _proc_status(pid: int) -> dict[str, float]:
    """Peak RSS (MB) and CPU seconds of a live process (Linux /proc)."""
    out: dict[str, float] = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                out["peak_rss_mb"] = int(line.split()[1]) / 1024
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        out["cpu_seconds"] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except OSError:
        pass
    return out


# ---------------------------------------------------------------------------------------------
# dbt's own figures


def dbt_breakdown(target: Path, top: int = 8) -> dict[str, Any]:
    """Seconds per model layer (models/<layer>/...) and the slowest nodes of the last dbt run.

    dbt runs its threads in parallel, so the per-node seconds add up to more than the wall time.
    """
    try:
        results = json.loads((target / "run_results.json").read_text())
        manifest = json.loads((target / "manifest.json").read_text())
    except (OSError, ValueError):
        return {}
    nodes = manifest.get("nodes", {})
    layers: dict[str, float] = defaultdict(float)
    slowest: list[tuple[float, str, str]] = []
    for result in results.get("results", []):
        uid = result.get("unique_id", "")
        seconds = float(result.get("execution_time") or 0.0)
        node = nodes.get(uid, {})
        path = node.get("original_file_path", "")
        parts = Path(path).parts
        resource = uid.split(".", 1)[0]
        layer = parts[1] if len(parts) > 2 and parts[0] == "models" else (parts[0] if parts else "")
        layers[f"{resource}s {layer}".strip()] += seconds
        slowest.append((seconds, uid, str(node.get("config", {}).get("materialized", ""))))
    slowest.sort(reverse=True)
    return {
        "elapsed_s": results.get("elapsed_time"),
        "nodes": len(results.get("results", [])),
        "seconds_by_layer": dict(sorted(layers.items(), key=lambda kv: -kv[1])),
        "slowest": [
            {"node": uid, "seconds": round(s, 2), "materialized": m} for s, uid, m in slowest[:top]
        ],
    }


# ---------------------------------------------------------------------------------------------
# figures


def _cycle_seconds(steps: list[Step], phase: str) -> float:
    return sum(s.seconds for s in steps if s.phase == phase)


def _step(steps: list[Step], phase: str, word: str) -> Step | None:
    return next((s for s in steps if s.phase == phase and s.command[1] == word), None)


def figures(steps: list[Step], server: dict[str, float]) -> dict[str, Any]:
    """The ratios of issue 15 from one run's steps (each with its own baseline)."""
    full_s = _cycle_seconds(steps, "full")
    inc_s = _cycle_seconds(steps, "incremental")
    out: dict[str, Any] = {
        "full_cycle_s": round(full_s, 2),
        "incremental_cycle_s": round(inc_s, 2),
        "incremental_vs_full": round(inc_s / full_s, 4) if full_s and inc_s else None,
        "full_cycle_vs_10_min": round(full_s / FULL_CYCLE_TARGET_S, 3),
        "all_steps_ok": all(s.ok for s in steps),
    }
    full_t, inc_t = _step(steps, "full", "transform"), _step(steps, "incremental", "transform")
    if full_t and inc_t and full_t.seconds:
        out["incremental_vs_full_transform"] = round(inc_t.seconds / full_t.seconds, 4)
        full_dbt, inc_dbt = full_t.detail.get("dbt_seconds"), inc_t.detail.get("dbt_seconds")
        if full_dbt and inc_dbt:
            out["incremental_vs_full_dbt"] = round(inc_dbt / full_dbt, 4)
    peaks = [(s.peak_rss_mb, f"{s.phase} {s.label}") for s in steps if s.peak_rss_mb]
    if server.get("peak_rss_mb"):
        peaks.append((server["peak_rss_mb"], "sandbox server"))
    if peaks:
        peak, where = max(peaks)
        out["peak_rss_mb"] = round(peak, 1)
        out["peak_rss_process"] = where
        out["peak_rss_vs_4gb"] = round(peak / PEAK_RSS_TARGET_MB, 3)
    plans = {}
    for phase in ("full", "incremental"):
        plan = _step(steps, phase, "writeback")
        counts = plan.detail.get("counts") if plan else None
        if not plan or not counts or "erp_requests" not in counts:
            continue
        planned = sum(v for k, v in counts.items() if k not in ("erp_requests", "kept"))
        to_apply = counts.get("apply", 0)
        budget = math.ceil(planned / PLAN_CORRECTIONS_PER_READ) + to_apply
        plans[phase] = {
            "seconds": round(plan.seconds, 2),
            "erp_requests": counts["erp_requests"],
            "corrections_planned": planned,
            "to_apply": to_apply,
            "requests_per_correction": round(counts["erp_requests"] / planned, 4)
            if planned
            else None,
            "request_budget": budget,
            "within_budget": counts["erp_requests"] <= budget,
        }
    out["plan"] = plans
    return out


def _ok(flag: bool | None) -> str:
    return "n/a" if flag is None else ("met" if flag else "MISSED")


def report(result: dict[str, Any]) -> str:
    """The per-step table, the ratios against the targets, and where the time goes."""
    steps = [Step(**{k: v for k, v in s.items() if k != "label"}) for s in result["steps"]]
    fig = result["figures"]
    lines = [
        f"cycle benchmark at {result['scale']} ({result.get('invoices') or '?':,} invoices), "
        f"{result.get('date', '')}, load average at start {result.get('load_average', '?')}",
        "",
        f"| {'phase':<11} | {'step':<18} | {'seconds':>9} | {'CPU s':>7} | {'peak RSS MB':>11} |"
        " what it did",
        f"|{'-' * 13}|{'-' * 20}|{'-' * 11}|{'-' * 9}|{'-' * 13}|{'-' * 20}",
    ]
    for s in steps:
        rss = f"{s.peak_rss_mb:,.0f}" if s.peak_rss_mb is not None else "n/a"
        cpu = f"{s.cpu_seconds:.1f}" if s.cpu_seconds is not None else "n/a"
        lines.append(
            f"| {s.phase:<11} | {s.label:<18} | {s.seconds:9.1f} | {cpu:>7} | {rss:>11} | "
            f"{_what(s)}{'' if s.ok else ' FAILED'}"
        )
    server = result.get("server", {})
    if server:
        lines.append(
            f"| {'(all)':<11} | {'sandbox server':<18} | {'':>9} | "
            f"{server.get('cpu_seconds', 0):7.1f} | {server.get('peak_rss_mb', 0):>11,.0f} |"
        )
    lines.append(
        "(seconds: wall time; CPU s: user + system of the step's processes. On a shared machine "
        "the gap is time spent waiting for a core.)"
    )
    lines.append("")
    if not fig["all_steps_ok"]:
        lines.append("a step FAILED (see its log): these are not the figures of a whole cycle")
    inc = fig.get("incremental_vs_full")
    lines.append(
        f"full cycle {fig['full_cycle_s']:.1f} s = {fig['full_cycle_vs_10_min']:.2f}x of 10 min "
        f"(target <= 1): {_ok(fig['full_cycle_vs_10_min'] <= 1)}"
    )
    if inc is not None:
        lines.append(
            f"incremental cycle {fig['incremental_cycle_s']:.1f} s = {inc:.1%} of the full cycle"
            f" (target <= {INCREMENTAL_CYCLE_TARGET:.0%}): {_ok(inc <= INCREMENTAL_CYCLE_TARGET)}"
        )
    if "incremental_vs_full_transform" in fig:
        dbt = fig.get("incremental_vs_full_dbt")
        dbt_part = f"; dbt alone {dbt:.1%}" if dbt is not None else ""
        ratio = fig["incremental_vs_full_transform"]
        lines.append(
            f"incremental transform = {ratio:.1%} of the full transform{dbt_part} "
            f"(target <= {INCREMENTAL_TRANSFORM_TARGET:.0%} at medium): "
            f"{_ok(ratio <= INCREMENTAL_TRANSFORM_TARGET)}"
        )
    if "peak_rss_mb" in fig:
        lines.append(
            f"peak memory {fig['peak_rss_mb']:,.0f} MB ({fig['peak_rss_process']}) = "
            f"{fig['peak_rss_vs_4gb']:.0%} of 4 GB: {_ok(fig['peak_rss_vs_4gb'] <= 1)}"
        )
    for phase, plan in fig.get("plan", {}).items():
        lines.append(
            f"{phase} plan: {plan['erp_requests']:,} ERP requests for "
            f"{plan['corrections_planned']:,} corrections ({plan['to_apply']:,} to apply) = "
            f"{plan['requests_per_correction'] or 0:.3f} per correction; budget "
            f"{plan['request_budget']:,} (1 per {PLAN_CORRECTIONS_PER_READ} planned + 1 per "
            f"apply): {_ok(plan['within_budget'])}; {plan['seconds']:.1f} s"
        )
    for name, value in result.get("related", {}).items():
        lines.append(f"{name}: {value}")
    lines.extend(_where_the_time_goes(steps, fig))
    return "\n".join(lines)


def _what(s: Step) -> str:
    d = s.detail
    if "rows_loaded" in d:
        return f"{d['rows_loaded']:,} rows landed"
    if "dbt_seconds" in d:
        recon = (d.get("dbt") or {}).get("seconds_by_layer", {}).get("models recon")
        recon_part = f"; recon models {recon:.1f} s" if recon is not None else ""
        return f"dbt {d['dbt_seconds']:.1f} s ({d.get('dbt_counts', '')}){recon_part}"
    if "counts" in d:
        return ", ".join(f"{k} {v:,}" for k, v in sorted(d["counts"].items()))
    return d.get("error", "")


def _where_the_time_goes(steps: list[Step], fig: dict[str, Any]) -> list[str]:
    missed = (
        fig["full_cycle_vs_10_min"] > 1
        or (fig.get("incremental_vs_full") or 0) > INCREMENTAL_CYCLE_TARGET
        or (fig.get("incremental_vs_full_transform") or 0) > INCREMENTAL_TRANSFORM_TARGET
        or any(not p["within_budget"] for p in fig.get("plan", {}).values())
        or not fig["all_steps_ok"]
    )
    if not missed:
        return []
    out = ["", "where the time goes (a target was missed):"]
    for phase in ("full", "incremental"):
        cycle = [s for s in steps if s.phase == phase]
        total = sum(s.seconds for s in cycle) or 1.0
        out.append(
            f"  {phase}: "
            + ", ".join(f"{s.label} {s.seconds:.1f} s ({s.seconds / total:.0%})" for s in cycle)
        )
        for s in cycle:
            d = s.detail
            if d.get("systems"):
                out.append(
                    "    ingest by system: "
                    + ", ".join(
                        f"{k} {v['seconds']:.1f} s ({v['rows']:,} rows)"
                        for k, v in d["systems"].items()
                    )
                )
            if d.get("tables"):
                worst = sorted(d["tables"].items(), key=lambda kv: -kv[1]["seconds"])[:5]
                out.append(
                    "    ingest by table: "
                    + ", ".join(f"{t} {v['seconds']:.1f} s ({v['rows']:,} rows)" for t, v in worst)
                )
            if "dbt_seconds" in d:
                outside = s.seconds - d["dbt_seconds"]
                publish = d.get("publish_seconds")
                publish_part = f", of which the copy {publish:.1f} s" if publish else ""
                out.append(
                    f"    transform: dbt {d['dbt_seconds']:.1f} s, outside dbt {outside:.1f} s "
                    f"(start-up and the read-only copy for BI, CLOSELOOP_PUBLISH_PATH"
                    f"{publish_part})"
                )
                breakdown = d.get("dbt", {})
                if breakdown.get("seconds_by_layer"):
                    out.append(
                        "    dbt seconds by layer (threads overlap): "
                        + ", ".join(
                            f"{k} {v:.1f}"
                            for k, v in list(breakdown["seconds_by_layer"].items())[:8]
                        )
                    )
                for node in breakdown.get("slowest", []):
                    out.append(
                        f"      {node['seconds']:7.1f} s  {node['node']} ({node['materialized']})"
                    )
            if "counts" in d and "erp_requests" in d["counts"]:
                out.append(
                    f"    plan: {d['counts']['erp_requests']:,} ERP requests in {s.seconds:.1f} s"
                )
    return out


# ---------------------------------------------------------------------------------------------
# the run


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOURCES__")}
    env.update(TELEMETRY_OFF)
    env["CLOSELOOP_HOME"] = str(home)
    env["CLOSELOOP_WAREHOUSE"] = "duckdb"
    env.pop("CLOSELOOP_DUCKDB_PATH", None)
    env.pop("CLOSELOOP_PUBLISH_PATH", None)
    # rich prints its tables to a pipe at this width, so no summary line is wrapped
    env["COLUMNS"] = "300"
    return env


def _manifest(home: Path) -> dict[str, Any]:
    path = home / "sandbox" / "manifest.json"
    return json.loads(path.read_text()) if path.exists() else {}


def bench_cycle(
    home: Path,
    scale: str = SCALE,
    sandbox_from: Path | None = None,
    advance_days: int = ADVANCE_DAYS,
) -> dict[str, Any]:
    """Run the full and the incremental cycle at `scale` under `home` (a fresh directory).

    Args:
        home: the CLOSELOOP_HOME of the run (created; its warehouse must not exist yet).
        scale: the sandbox scale to generate.
        sandbox_from: a CLOSELOOP_HOME whose sandbox is used instead of generating one (linked,
            not copied: `advance` changes it in place).
        advance_days: days the sandbox is advanced between the two cycles.

    Returns:
        The steps and figures, also printed.
    """
    closeloop = str(BIN / "closeloop")
    started_at = time.monotonic()
    home.mkdir(parents=True, exist_ok=True)
    if (home / "closeloop.duckdb").exists():
        raise SystemExit(f"{home} already has a warehouse: the full cycle needs an empty one")
    env = _env(home)
    logs = home / "bench-logs"
    target = home / "dbt-target"
    steps: list[Step] = []
    if sandbox_from is not None:
        source = (sandbox_from / "sandbox").resolve()
        if not (source / "manifest.json").exists():
            raise SystemExit(f"no sandbox under {sandbox_from}")
        if not (home / "sandbox").exists():
            (home / "sandbox").symlink_to(source, target_is_directory=True)
        scale = _manifest(home).get("scale", scale)
        print(f"using the {scale} sandbox under {source} (advanced in place)", flush=True)
    else:
        gen = Step("setup", "generate", [closeloop, "sandbox", "generate", "--scale", scale])
        gen.command += ["--seed", str(SEED)]
        steps.append(run_step(gen, env, logs, started_at))
        if not gen.ok:
            raise SystemExit("generation failed")
    manifest = _manifest(home)
    invoices = (manifest.get("counts") or {}).get("invoices")
    result: dict[str, Any] = {
        "scale": scale,
        "invoices": invoices,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "load_average": " ".join(f"{x:.1f}" for x in os.getloadavg()),
        "cpus": os.cpu_count(),
        "advance_days": advance_days,
    }
    if scale == "large" and invoices is not None and invoices < 1_000_000:
        print(f"note: this large sandbox has {invoices:,} invoices (< 1,000,000)")
    cycle = {
        "ingest": [closeloop, "ingest", "all"],
        "transform": [closeloop, "transform", "build", "--target-path", str(target)],
        "plan": [closeloop, "writeback", "plan", "--show", "1"],
    }
    server: dict[str, float] = {}
    with _serve(home, env) as (urls, server_pid):
        env.update(source_env_values(urls, SANDBOX_DEFAULT_TOKENS))
        for phase in ("full", "incremental"):
            if phase == "incremental":
                days = str(advance_days)
                adv = Step("setup", "advance", [closeloop, "sandbox", "advance", "--days", days])
                steps.append(run_step(adv, env, logs, started_at))
            for name, cmd in cycle.items():
                step = run_step(Step(phase, name, list(cmd)), env, logs, started_at)
                if name == "transform":
                    step.detail["dbt"] = dbt_breakdown(target)
                steps.append(step)
        server = _proc_status(server_pid)
    result["server"] = server
    result["steps"] = [asdict(s) | {"label": s.label} for s in steps]
    result["figures"] = figures(steps, server)
    return result


def run_and_print(
    home: Path,
    scale: str = SCALE,
    sandbox_from: Path | None = None,
    related: dict[str, str] | None = None,
) -> dict[str, Any]:
    """`bench_cycle` and its printed report (`related`: lines of other sections' ratios)."""
    print(f"== cycle at {scale}: full, then incremental after a {ADVANCE_DAYS}-day advance ==")
    result = bench_cycle(home, scale, sandbox_from)
    if related:
        result["related"] = related
    print(report(result), flush=True)
    return result


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bench.cycle", description=__doc__)
    parser.add_argument("--scale", default=SCALE, choices=("small", "medium", "large"))
    parser.add_argument("--home", type=Path, help="run under this (new) CLOSELOOP_HOME; kept")
    parser.add_argument(
        "--sandbox-from", type=Path, help="use the sandbox under this CLOSELOOP_HOME (advanced)"
    )
    parser.add_argument("--out", type=Path, help="write the figures here as JSON")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="closeloop-bench-cycle-") as scratch:
        run_home = args.home or Path(scratch) / "home"
        figures_ = run_and_print(run_home, args.scale, args.sandbox_from)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(figures_, indent=2, default=str))
