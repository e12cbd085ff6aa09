"""Ingestion benchmark (`make bench`): billing invoices and their lines at `medium` scale.

Four figures from one run, each against the same records:

1. fetch: every page of `/v1/invoices` (and of the lines past the 10 embedded) read and parsed,
   nothing stored, by the leanest Python client (urllib3 + orjson): the ceiling of any
   connector on this machine; and the same through closeloop's own client (dlt's REST client
   on `requests`), which shows what the HTTP stack costs;
2. full load: closeloop's billing source (`invoices` + `invoice_lines`) into a fresh DuckDB;
3. incremental: the same pipeline after `sandbox advance` changed about 1% of the records
   (new invoices listed, updates through the events stream), next to a run with nothing to do
   (dlt's fixed cost of a run: what no amount of incremental cleverness removes);
4. native: DuckDB's own `read_json_auto` over the same records as NDJSON (the physical floor);
5. naive: what a plain pipeline takes for the same records: dlt with its defaults (nested lists
   normalized into child tables, its own JSON and load path) fed by the official stripe-python
   SDK's auto-paging (`Invoice.list(...).auto_paging_iter()`, line pages past the ten embedded
   read through the SDK too), into a fresh DuckDB. The ratio naive / closeloop full load is the
   speed-up of closeloop's connector (target >= 10x), as records per second: the naive read
   stops after the first `BENCH_NAIVE_LIMIT` invoices (default 5,000, with their lines; 0 reads
   them all), because at a few hundred records per second the whole `medium` would take half
   an hour of a shared machine. Its fixed costs (dlt's set-up, the first page) count in full
   against it over fewer records, which favours closeloop a little; `BENCH_NAIVE_LIMIT=0` for
   the exact figure.

The sandbox is served by a child process (`closeloop sandbox serve`). On a two-core machine the
server, the connector and its conversion worker share the cores, which a remote vendor would
not: so the CPU seconds of each are printed too, to show where the time goes.
"""

from __future__ import annotations

import cProfile
import io
import json
import logging
import os
import pstats
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import duckdb
import orjson
import urllib3

from closeloop.settings import Settings, disable_telemetry
from sandbox.defaults import SANDBOX_DEFAULT_TOKENS

disable_telemetry()

SCALE = "medium"
SEED = 42
#: Invoices the naive pipeline reads (0: all); see the module's docstring.
NAIVE_LIMIT = 5000
#: Rounds of fetch and full load (alternating); the best of each is reported.
ROUNDS = 2


def _cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a live process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class _Cpu:
    """CPU seconds of this process, its finished children (the conversion worker) and the
    sandbox server over a block."""

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid
        self.seconds: dict[str, float] = {}

    def __enter__(self) -> _Cpu:
        self._start = (
            time.process_time(),
            _children_cpu(),
            _cpu_seconds(self.server_pid),
        )
        return self

    def __exit__(self, *exc: object) -> None:
        own, children, server = self._start
        self.seconds = {
            "connector": time.process_time() - own,
            "worker": _children_cpu() - children,
            "server": _cpu_seconds(self.server_pid) - server,
        }


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


@contextmanager
def _serve(home: Path) -> Iterator[dict[str, str]]:
    env = {**os.environ, "CLOSELOOP_HOME": str(home)}
    proc = subprocess.Popen(
        [
            sys.executable, "-m", "closeloop.cli", "sandbox", "serve",
            "--crm-port", "0", "--billing-port", "0", "--erp-port", "0",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )  # fmt: skip
    urls: dict[str, str] = {}
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        while len(urls) < 3 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            match = re.match(r"^(crm|billing|erp)\s+(https?://\S+)", line.strip())
            if match:
                urls[match.group(1)] = match.group(2)
        if len(urls) < 3:
            raise SystemExit("the sandbox did not start")
        urls["pid"] = str(proc.pid)
        yield urls
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def _fetch_lean(url: str) -> tuple[int, int, float]:
    """The same pages read by the leanest Python client: one urllib3 keep-alive connection,
    orjson, no retries, no dlt, no requests. What the sandbox can serve to a Python client,
    and so the ceiling of any connector on this machine.
    """
    from ingestion.edge import bulk_gc
    from ingestion.sources.billing.settings import PAGE_LIMIT, STRIPE_VERSION

    parts = urlsplit(url)
    pool = urllib3.HTTPConnectionPool(parts.hostname or "127.0.0.1", parts.port, maxsize=1)
    headers = {
        "Authorization": f"Bearer {SANDBOX_DEFAULT_TOKENS['billing']}",
        "Stripe-Version": STRIPE_VERSION,
    }

    def get(path: str, params: dict[str, Any]) -> Any:
        response = pool.request("GET", f"{path}?{urlencode(params)}", headers=headers)
        if response.status != 200:
            raise SystemExit(f"GET {path}: HTTP {response.status}")
        return orjson.loads(response.data)

    n_inv = n_lines = 0
    params: dict[str, Any] = {"limit": PAGE_LIMIT}
    started = time.perf_counter()
    with bulk_gc():
        while True:
            page = get(f"{parts.path.rstrip('/')}/v1/invoices", params)
            invoices = page["data"]
            n_inv += len(invoices)
            for invoice in invoices:
                lines = invoice["lines"]
                n_lines += len(lines["data"])
                while lines["has_more"]:
                    after = {"limit": PAGE_LIMIT, "starting_after": lines["data"][-1]["id"]}
                    lines = {**get(invoice["lines"]["url"], after), "url": lines["url"]}
                    n_lines += len(lines["data"])
            if not (page["has_more"] and invoices):
                break
            params = {"limit": PAGE_LIMIT, "starting_after": invoices[-1]["id"]}
    seconds = time.perf_counter() - started
    pool.close()
    return n_inv, n_lines, seconds


def _fetch(url: str, out: Path | None = None, overlap: bool = True) -> tuple[int, int, float]:
    """Read and parse every invoice page and every line page.

    Timed without `out`: records are dropped as soon as they are parsed, so the figure is the
    fetch alone. With `out` (untimed) they are written there as NDJSON for the native load.

    With `overlap` the requests run in a thread while the pages already fetched are parsed, as
    the connector fetches while it converts: the faster of the two ways is the ceiling.
    Without it, one thread requests a page, parses it, and requests the next.
    """
    from ingestion.edge import bulk_gc
    from ingestion.prefetch import Prefetch
    from ingestion.sources.billing.helpers import StripeClient

    client = StripeClient(url, SANDBOX_DEFAULT_TOKENS["billing"])
    n_inv = n_lines = 0
    inv_fh = (out / "invoices.ndjson").open("wb") if out else None
    line_fh = (out / "lines.ndjson").open("wb") if out else None

    def fetched() -> Iterator[tuple[bytes, dict[str, list[bytes]]]]:
        # the connector's requests: a page, read only as far as paging needs (a scan), then
        # the line pages of its invoices past the ten embedded
        for refs, body in client.list_pages_raw("invoices"):
            yield body, {str(r.get("id")): client.more_line_bodies(r) for r in refs}

    def parsed() -> Iterator[tuple[list[dict[str, Any]], dict[str, list[dict[str, Any]]]]]:
        if not overlap:
            # each page parsed once (orjson), the cursor read from it
            for page in client.list_pages("invoices"):
                yield page, {inv["id"]: client.all_lines(inv) for inv in page}
            return
        with Prefetch(fetched(), depth=4, name="bench-fetch") as pages:
            for body, more in pages:
                page = orjson.loads(body)["data"]
                lines = {}
                for inv in page:
                    lines[inv["id"]] = list(inv["lines"]["data"])
                    for line_body in more.get(inv["id"], ()):
                        lines[inv["id"]].extend(orjson.loads(line_body)["data"])
                yield page, lines

    started = time.perf_counter()
    try:
        with bulk_gc():
            for page, lines in parsed():
                n_inv += len(page)
                n_lines += sum(len(v) for v in lines.values())
                if inv_fh and line_fh:
                    for invoice in page:
                        doc = {k: v for k, v in invoice.items() if k != "lines"}
                        inv_fh.write(orjson.dumps(doc) + b"\n")
                        line_fh.writelines(
                            orjson.dumps(line) + b"\n" for line in lines[invoice["id"]]
                        )
    finally:
        for fh in (inv_fh, line_fh):
            if fh:
                fh.close()
    return n_inv, n_lines, time.perf_counter() - started


def _run_pipeline(
    home: Path,
    urls: dict[str, str],
    resources: list[str],
    profile: bool = False,
    full_refresh: bool = False,
) -> dict[str, Any]:
    from ingestion.pipelines import run_system

    env = {
        "CLOSELOOP_HOME": str(home),
        "CLOSELOOP_WAREHOUSE": "duckdb",
        "SOURCES__BILLING__BASE_URL": urls["billing"],
        "SOURCES__BILLING__API_KEY": SANDBOX_DEFAULT_TOKENS["billing"],
    }
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    profiler = cProfile.Profile() if profile else None
    cpu = _Cpu(int(urls["pid"]))
    try:
        started = time.perf_counter()
        if profiler:
            profiler.enable()
        with cpu:
            summary = run_system("billing", resources=resources, full_refresh=full_refresh)
        if profiler:
            profiler.disable()
        seconds = time.perf_counter() - started
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    rows = {t.table: t.rows_loaded for t in summary.tables}
    out: dict[str, Any] = {
        "seconds": seconds,
        "rows": rows,
        "steps": _steps(home),
        "cpu": cpu.seconds,
    }
    if profiler:
        stream = io.StringIO()
        pstats.Stats(profiler, stream=stream).sort_stats("tottime").print_stats(30)
        out["profile"] = stream.getvalue()
    return out


def _steps(home: Path) -> dict[str, float]:
    """Seconds of dlt's extract, normalize and load steps in the last billing run."""
    from ingestion.pipelines import build_pipeline

    settings = Settings.from_env({"CLOSELOOP_HOME": str(home)})
    trace = build_pipeline("billing", settings).last_trace
    steps: dict[str, float] = {}
    for step in trace.steps if trace else []:
        if step.step in ("extract", "normalize", "load") and step.finished_at and step.started_at:
            steps[step.step] = (step.finished_at - step.started_at).total_seconds()
    return steps


def _native(tmp: Path) -> float:
    """Seconds for DuckDB to load the same records from the NDJSON files under `tmp`."""
    inv_path, line_path = tmp / "invoices.ndjson", tmp / "lines.ndjson"
    con = duckdb.connect(str(tmp / "native.duckdb"))
    try:
        started = time.perf_counter()
        con.execute(f"create table invoices as select * from read_json_auto('{inv_path}')")
        con.execute(f"create table invoice_lines as select * from read_json_auto('{line_path}')")
        return time.perf_counter() - started
    finally:
        con.close()


def _naive(work: Path, url: str, limit: int | None = None) -> dict[str, Any]:
    """The naive pipeline: dlt with its defaults fed by stripe-python's auto-paging.

    Returns:
        invoices, lines, records and seconds of the run (extract, normalize and load).
    """
    import dlt
    import stripe

    stripe.api_key = SANDBOX_DEFAULT_TOKENS["billing"]
    stripe.api_base = url.rstrip("/")
    stripe.max_network_retries = 0
    counts = {"invoices": 0, "lines": 0}

    @dlt.resource(name="invoices", write_disposition="replace")
    def invoices() -> Iterator[dict[str, Any]]:
        for invoice in stripe.Invoice.list(limit=100).auto_paging_iter():
            doc = invoice.to_dict()
            if invoice.lines.has_more:
                doc["lines"]["data"] = [line.to_dict() for line in invoice.lines.auto_paging_iter()]
            counts["invoices"] += 1
            counts["lines"] += len(doc["lines"]["data"])
            yield doc
            if limit and counts["invoices"] >= limit:
                return

    pipeline = dlt.pipeline(
        pipeline_name="naive_stripe",
        pipelines_dir=str(work / "naive-dlt"),
        destination=dlt.destinations.duckdb(str(work / "naive.duckdb")),
        dataset_name="naive_billing",
    )
    # dlt warns about every column the first rows left null: a page of noise per table
    dlt_log = logging.getLogger("dlt")
    level = dlt_log.level
    dlt_log.setLevel(logging.ERROR)
    try:
        started = time.perf_counter()
        pipeline.run(invoices())
        seconds = time.perf_counter() - started
    finally:
        dlt_log.setLevel(level)
    return {**counts, "records": counts["invoices"] + counts["lines"], "seconds": seconds}


def bench_ingestion(home: Path) -> dict[str, Any]:
    """Run the ingestion benchmark on a copy of the `medium` sandbox under `home` and print it.

    Args:
        home: a CLOSELOOP_HOME; its sandbox is copied when it is a `medium` one, otherwise a
            fresh `medium` sandbox is generated in the work copy (home is left untouched).

    Returns:
        The figures: records, seconds and rates of fetch, full load, incremental and native.
    """
    from sandbox.generator import advance, generate
    from sandbox.schema import SandboxPaths

    source = SandboxPaths.under(home)
    manifest = json.loads(source.manifest.read_text()) if source.exists() else {}
    work = Path(tempfile.mkdtemp(prefix="closeloop-bench-ingest-"))
    try:
        if manifest.get("scale") == SCALE:
            shutil.copytree(source.root, SandboxPaths.under(work).root)
        else:
            # never touch the user's own sandbox: a medium one is made in the work copy
            print(f"generating a {SCALE} sandbox for the benchmark ...", flush=True)
            generate(SandboxPaths.under(work), seed=SEED, scale=SCALE)
        with _serve(work) as urls:
            # Fetch and full load alternate, ROUNDS times each, and the best of each counts:
            # on a shared machine a slow spell would otherwise land on one side of the ratio.
            leans: list[tuple[float, dict[str, float]]] = []
            fetches: list[tuple[float, dict[str, float]]] = []
            sequential: list[float] = []
            fulls: list[dict[str, Any]] = []
            profile = bool(os.environ.get("BENCH_PROFILE"))
            for round_ in range(ROUNDS):
                with _Cpu(int(urls["pid"])) as lean_cpu:
                    lean_counts = _fetch_lean(urls["billing"])
                leans.append((lean_counts[2], lean_cpu.seconds))
                with _Cpu(int(urls["pid"])) as fetch_cpu:
                    n_inv, n_lines, seconds = _fetch(urls["billing"])
                if lean_counts[:2] != (n_inv, n_lines):
                    raise SystemExit(f"the fetches disagree: {lean_counts[:2]} != {n_inv, n_lines}")
                fetches.append((seconds, fetch_cpu.seconds))
                sequential.append(_fetch(urls["billing"], overlap=False)[2])
                fulls.append(
                    _run_pipeline(
                        work, urls, ["invoices"], profile=profile, full_refresh=round_ > 0
                    )
                )
            # Peak RSS so far (Linux: KiB): this process over the fetches and full loads, and
            # the largest child reaped so far, i.e. a conversion worker (the server still runs)
            peak_kib = (
                resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
            )
            lean_s, lean_cpu_s = min(leans, key=lambda f: f[0])
            threaded_s, threaded_cpu = min(fetches, key=lambda f: f[0])
            client_s = min(threaded_s, *sequential)
            # the ceiling: the fastest fetch of all, in its best round
            fetch_s = min(lean_s, client_s)
            full = min(fulls, key=lambda f: float(f["seconds"]))
            records = n_inv + n_lines
            _fetch(urls["billing"], out=work)  # untimed: the NDJSON files of the native load
            limit = int(os.environ.get("BENCH_NAIVE_LIMIT", NAIVE_LIMIT)) or None
            print(
                "naive pipeline (dlt defaults fed by stripe-python)"
                + (f", first {limit:,} invoices" if limit else "")
                + " ...",
                flush=True,
            )
            # the same records as the full loads (before the advance)
            naive = _naive(work, urls["billing"], limit)
            # untimed: the events cursor (horizon) the incremental run resumes from
            _run_pipeline(work, urls, ["events"])
            # nothing changed: the fixed cost of a run
            idle = _run_pipeline(work, urls, ["invoices", "events"])
            # about 1% of the records change: new invoices, payments, voids, via the events
            advance(SandboxPaths.under(work), days=1)
            incremental = _run_pipeline(work, urls, ["invoices", "events"])
        native_s = _native(work)
        warehouse = Settings.from_env({"CLOSELOOP_HOME": str(work)}).duckdb_path
        con = duckdb.connect(str(warehouse), read_only=True)
        try:
            landed = con.execute(
                "select (select count(*) from raw_billing.invoices)"
                " + (select count(*) from raw_billing.invoice_lines)"
            ).fetchone()
        finally:
            con.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    changed = sum(incremental["rows"].values())
    result: dict[str, Any] = {
        "records": records,
        "invoices": n_inv,
        "lines": n_lines,
        "fetch_seconds": fetch_s,
        "fetch_rate": records / fetch_s,
        "full_seconds": full["seconds"],
        "full_rate": records / full["seconds"],
        "incremental_seconds": incremental["seconds"],
        "incremental_rows": changed,
        "idle_run_seconds": idle["seconds"],
        "fetch_cpu": lean_cpu_s,
        "client_fetch_seconds": client_s,
        "client_fetch_rate": records / client_s,
        "client_fetch_cpu": threaded_cpu,
        "rounds": {
            "lean_fetch_seconds": [f[0] for f in leans],
            "fetch_seconds": [f[0] for f in fetches],
            "sequential_fetch_seconds": sequential,
            "full_seconds": [f["seconds"] for f in fulls],
        },
        "full_cpu": full["cpu"],
        "native_seconds": native_s,
        "native_rate": records / native_s,
        "landed_after_incremental": landed[0] if landed else None,
        "peak_rss_mb": peak_kib[0] / 1024,
        "peak_worker_rss_mb": peak_kib[1] / 1024,
        "naive_seconds": naive["seconds"],
        "naive_records": naive["records"],
        "naive_rate": naive["records"] / naive["seconds"],
        "naive_limit": limit,
    }
    # the speed-up over the naive pipeline: records per second, which for a full naive read
    # (the default) is the ratio of the two times over the same records
    result["closeloop_vs_naive"] = result["full_rate"] / result["naive_rate"]
    print(f"ingestion benchmark ({SCALE}: {n_inv:,} invoices, {n_lines:,} lines)")
    print(
        f"  fetch, lean client{result['fetch_rate']:>10,.0f} records/s  ({fetch_s:.1f} s): urllib3"
        " + orjson on one connection, the ceiling of any connector"
    )
    print(
        f"  fetch, closeloop's client {result['client_fetch_rate']:>,.0f} records/s  "
        f"({client_s:.1f} s; dlt's REST client on requests: in a thread while pages are parsed,"
        f" best {threaded_s:.1f} s; one thread, best {min(sequential):.1f} s)"
    )
    print(
        f"  closeloop full    {result['full_rate']:>10,.0f} records/s  ({full['seconds']:.1f} s)"
        f"  = {result['full_rate'] / result['fetch_rate']:.0%} of the ceiling (goal >= 80%), "
        f"{result['full_rate'] / result['client_fetch_rate']:.0%} of the fetch through its own"
        " client"
    )
    print(
        f"  incremental       {incremental['seconds']:>10.2f} s          ({changed:,} rows, "
        f"{changed / records:.1%} of records) = "
        f"{incremental['seconds'] / full['seconds']:.1%} of the full load (goal < 5%)"
    )
    variable = max(0.0, incremental["seconds"] - idle["seconds"])
    print(
        f"  run with no changes {idle['seconds']:>6.2f} s          (dlt's fixed cost of a run); "
        f"the change itself {variable:.2f} s = {variable / full['seconds']:.1%} of the full load"
    )
    for label, run in (("full", full), ("incremental", incremental), ("no changes", idle)):
        steps = ", ".join(f"{k} {v:.1f} s" for k, v in run["steps"].items())
        print(f"  {label} by dlt step: {steps}")
    rounds = ", ".join(
        f"{lean[0]:.1f}/{f[0]:.1f}/{q:.1f}/{g['seconds']:.1f}"
        for lean, f, q, g in zip(leans, fetches, sequential, fulls, strict=True)
    )
    print(
        "  seconds of each round, fetch (lean)/fetch (thread)/fetch (one thread)/full (the best"
        f" of each is used): {rounds}"
    )
    for label, cpu in (
        ("lean fetch", lean_cpu_s),
        ("closeloop's fetch", threaded_cpu),
        ("full", full["cpu"]),
    ):
        parts = ", ".join(f"{k} {v:.1f} s" for k, v in cpu.items() if k != "worker" or v >= 0.05)
        print(f"  CPU seconds of the {label} (2 cores): {parts}")
    print(f"  DuckDB native     {result['native_rate']:>10,.0f} records/s  ({native_s:.1f} s)")
    speedup = result["closeloop_vs_naive"]
    print(
        f"  naive pipeline    {result['naive_rate']:>10,.0f} records/s  ({naive['seconds']:.1f} s,"
        f" {naive['records']:,} records{' (the first invoices)' if limit else ''}: dlt"
        " defaults fed by stripe-python)"
        f" -> closeloop's full load is {speedup:.1f}x faster (target >= 10x):"
        f" {'met' if speedup >= 10 else 'MISSED'}"
    )
    print(
        f"  peak memory (RSS) over the fetches and full loads: {result['peak_rss_mb']:,.0f} MB"
        f" in the connector's process, {result['peak_worker_rss_mb']:,.0f} MB in the conversion"
        " worker"
    )
    server_rate = records / max(lean_cpu_s["server"], 1e-9)
    client_rate = records / max(lean_cpu_s["connector"], 1e-9)
    bound = "client" if client_rate < server_rate else "sandbox"
    print(
        f"  fetch goal 50,000 records/s: {'met' if result['fetch_rate'] >= 50_000 else 'not met'}"
        f" (the sandbox serves {server_rate:,.0f} records per CPU-second, the client parses"
        f" {client_rate:,.0f}: the bound is the {bound})"
    )
    if "profile" in full:
        print("profile of the full load (BENCH_PROFILE=1; the profiler slows it down):")
        print(full["profile"])
    return result


if __name__ == "__main__":
    bench_ingestion(Path(sys.argv[1]) if len(sys.argv) > 1 else Settings.from_env().home)
