"""The cycle benchmark (bench/cycle.py): end to end at `small` through the real CLI (slow), and
its parsing, ratios and report on real output of the CLI (fast)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.cycle import (
    GNU_TIME,
    Step,
    bench_cycle,
    dbt_breakdown,
    figures,
    parse_output,
    report,
)

DATA = Path(__file__).parent / "data"
CLOSELOOP = "/venv/bin/closeloop"


def _real_output(name: str) -> str:
    return (DATA / name).read_text()


def _step(phase: str, cmd: list[str], seconds: float, rss: float, output: str = "") -> Step:
    step = Step(phase, cmd[1], cmd, seconds, rss, ok=True, returncode=0)
    step.detail = parse_output(cmd, output)
    return step


def _steps() -> list[Step]:
    """A cycle's steps with the output the CLI printed in a real `small` run."""
    ingest = [CLOSELOOP, "ingest", "all"]
    transform = [CLOSELOOP, "transform", "build", "--target-path", "t"]
    plan = [CLOSELOOP, "writeback", "plan", "--show", "1"]
    advance = [CLOSELOOP, "sandbox", "advance", "--days", "1"]
    return [
        _step("full", ingest, 40.0, 430.0, _real_output("ingest_full.txt")),
        _step("full", transform, 70.0, 900.0, "dbt build: 262 success in 66.5 s\n"),
        _step("full", plan, 10.0, 120.0, _real_output("plan_full.txt")),
        _step("setup", advance, 8.0, 80.0),
        _step("incremental", ingest, 12.0, 330.0, _real_output("ingest_incremental.txt")),
        _step("incremental", transform, 30.0, 5000.0, "dbt build: 262 success in 26.0 s\n"),
        _step("incremental", plan, 3.0, 110.0, _real_output("plan_incremental.txt")),
    ]


def test_parse_output_reads_what_the_cli_printed() -> None:
    steps = _steps()
    full_ingest, inc_ingest = steps[0].detail, steps[4].detail
    assert full_ingest["tables"]["billing.invoices"]["rows"] == 4980
    assert full_ingest["systems"]["billing"]["rows"] == sum(
        v["rows"] for k, v in full_ingest["tables"].items() if k.startswith("billing.")
    )
    # a system's total row has no `deleted` figure: its seconds are still the last column
    assert full_ingest["systems"]["billing"] == {"rows": 27771, "seconds": 19.44}
    assert full_ingest["tables"]["crm.account"] == {"rows": 427, "seconds": 1.27}
    assert 0 < inc_ingest["rows_loaded"] < full_ingest["rows_loaded"]
    assert steps[1].detail["dbt_seconds"] == 66.5
    counts = steps[2].detail["counts"]
    assert counts["erp_requests"] > 0
    assert sum(v for k, v in counts.items() if k not in ("erp_requests", "kept")) > 0


def test_figures_are_the_ratios_of_the_same_run() -> None:
    steps = _steps()
    fig = figures(steps, {"peak_rss_mb": 150.0})
    assert fig["full_cycle_s"] == 120.0
    assert fig["incremental_cycle_s"] == 45.0
    assert fig["incremental_vs_full"] == pytest.approx(45 / 120, abs=1e-4)
    assert fig["incremental_vs_full_transform"] == pytest.approx(30 / 70, abs=1e-4)
    assert fig["incremental_vs_full_dbt"] == pytest.approx(26 / 66.5, abs=1e-4)
    # the advance is not part of either cycle; the biggest process is named
    assert fig["peak_rss_mb"] == 5000.0
    assert fig["peak_rss_process"] == "incremental transform build"
    assert fig["peak_rss_vs_4gb"] > 1
    plan = fig["plan"]["full"]
    counts = steps[2].detail["counts"]
    planned = plan["corrections_planned"]
    assert plan["erp_requests"] == counts["erp_requests"]
    assert plan["request_budget"] == -(-planned // 50) + counts.get("apply", 0)
    assert plan["within_budget"] == (counts["erp_requests"] <= plan["request_budget"])


def test_report_prints_every_step_and_where_the_time_goes() -> None:
    steps = _steps()
    result = {
        "scale": "small",
        "invoices": 4980,
        "steps": [vars(s) | {"label": s.label} for s in steps],
        "server": {"peak_rss_mb": 150.0, "cpu_seconds": 3.0},
        "figures": figures(steps, {"peak_rss_mb": 150.0}),
        "related": {"Dagster / plain CLI": "1.05x at medium (target <= 1.1x): met"},
    }
    text = report(json.loads(json.dumps(result)))
    for label in ("ingest all", "transform build", "writeback plan", "sandbox advance"):
        assert label in text
    assert "incremental cycle 45.0 s = 37.5% of the full cycle (target <= 5%): MISSED" in text
    assert "peak memory 5,000 MB (incremental transform build) = 122% of 4 GB: MISSED" in text
    assert "Dagster / plain CLI: 1.05x" in text
    # a target was missed: the figures that say where the time goes follow
    assert "where the time goes" in text
    assert "ingest by system: crm" in text
    assert "transform: dbt 66.5 s, outside dbt 3.5 s" in text


def test_dbt_breakdown_reads_dbt_artifacts(tmp_path: Path) -> None:
    (tmp_path / "run_results.json").write_text(_real_output("run_results.json"))
    (tmp_path / "manifest.json").write_text(_real_output("manifest_nodes.json"))
    breakdown = dbt_breakdown(tmp_path, top=3)
    assert len(breakdown["slowest"]) == 3
    seconds = [n["seconds"] for n in breakdown["slowest"]]
    assert seconds == sorted(seconds, reverse=True)
    assert "models recon" in breakdown["seconds_by_layer"]
    assert dbt_breakdown(tmp_path / "missing") == {}


# the whole cycle through the CLI twice (minutes on two cores): a benchmark's own run, kept out of
# `make test` like the benchmarks themselves; `pytest -m bench` runs it
@pytest.mark.slow
@pytest.mark.bench
def test_cycle_end_to_end_at_small(sandbox_home: Path, tmp_path: Path) -> None:
    """The real cycle: every CLI step succeeds, the incremental one lands less, figures exist."""
    result = bench_cycle(tmp_path / "run", "small", sandbox_from=sandbox_home)
    steps = result["steps"]
    assert [(s["phase"], s["label"]) for s in steps] == [
        ("full", "ingest all"),
        ("full", "transform build"),
        ("full", "writeback plan"),
        ("setup", "sandbox advance"),
        ("incremental", "ingest all"),
        ("incremental", "transform build"),
        ("incremental", "writeback plan"),
    ]
    failed = [(s["label"], s["detail"].get("error")) for s in steps if not s["ok"]]
    assert not failed
    full, inc = steps[0]["detail"], steps[4]["detail"]
    assert 0 < inc["rows_loaded"] < full["rows_loaded"]
    assert steps[1]["detail"]["dbt_seconds"] > 0
    assert "models recon" in steps[1]["detail"]["dbt"]["seconds_by_layer"]
    fig = result["figures"]
    assert fig["plan"]["full"]["corrections_planned"] > 0
    assert fig["incremental_vs_full"] > 0
    if GNU_TIME.exists():
        assert all(s["peak_rss_mb"] > 0 for s in steps)
    assert "incremental cycle" in report(result)


def test_gnu_time_report_gives_peak_rss_and_cpu(tmp_path: Path) -> None:
    """What `/usr/bin/time -v` wrote for a real `closeloop ingest all` at `small`."""
    from bench.cycle import _cpu_from_time, _rss_from_time

    report_path = DATA / "ingest_full.time"
    text = report_path.read_text()
    assert _rss_from_time(report_path) == pytest.approx(434992 / 1024)
    user = float(text.split("User time (seconds): ")[1].split()[0])
    system = float(text.split("System time (seconds): ")[1].split()[0])
    assert _cpu_from_time(report_path) == pytest.approx(user + system)
    assert _rss_from_time(tmp_path / "none") is None
    assert _cpu_from_time(tmp_path / "none") is None
