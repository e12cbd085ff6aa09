"""The `closeloop` command line: one subcommand per step of the loop."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from closeloop.settings import (
    APPROVER_ENV,
    BASE_URL_ENV_PATTERN,
    CA_BUNDLE_ENV,
    SANDBOX_FAULTS_ENV,
    Settings,
    disable_telemetry,
    sandbox_faults,
    source_env_values,
)
from sandbox.defaults import SANDBOX_DEFAULT_PORTS, SANDBOX_DEFAULT_TOKENS

disable_telemetry()

app = typer.Typer(
    help="closeloop: CRM, billing and ERP reconciled in a warehouse; corrections back to the ERP.",
    no_args_is_help=True,
    add_completion=False,
)
sandbox_app = typer.Typer(
    help="The simulated company and its three vendor-shaped APIs.", no_args_is_help=True
)
app.add_typer(sandbox_app, name="sandbox")

console = Console(stderr=True)
out = Console()


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except ValueError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # one line per HTTP request drowns the progress display; keep them for --verbose
    for noisy in ("httpx", "httpcore", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose else logging.WARNING)


@app.callback()
def main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging.")] = False,
) -> None:
    """closeloop: order-to-cash ELT with reconciliation and governed write-back."""
    _setup_logging(verbose)


def _progress_bar() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description:<28}"),
        BarColumn(),
        TextColumn("{task.percentage:>5.1f}%"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def _run_with_progress(label: str, func: Any, **kwargs: Any) -> dict[str, Any]:
    with _progress_bar() as progress:
        task = progress.add_task(label, total=1.0)

        def report(stage: str, fraction: float) -> None:
            progress.update(task, description=stage[:28], completed=max(0.0, min(fraction, 1.0)))

        result: dict[str, Any] = func(progress=report, **kwargs)
        progress.update(task, completed=1.0)
    return result


def _print_manifest(manifest: dict[str, Any], root: Path) -> None:
    table = Table(title=f"sandbox at {root}", show_header=True)
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, rows in sorted(manifest.get("counts", {}).items()):
        table.add_row(name, f"{rows:,}")
    out.print(table)
    out.print(
        f"seed {manifest.get('seed')}, scale {manifest.get('scale')}, "
        f"profile {manifest.get('profile', 'classic')}, "
        f"history {manifest.get('start')} .. clock {manifest.get('clock')}"
    )


def _print_profile(profile: dict[str, Any]) -> None:
    table = Table(title=f"profile {profile.get('name')} (<sandbox>/profile.json)")
    table.add_column("setting")
    table.add_column("value")
    for section in ("crm", "billing", "erp"):
        for key, value in profile.get(section, {}).items():
            shown = json.dumps(value) if isinstance(value, dict | list | bool) else str(value)
            table.add_row(f"{section}.{key}", shown)
    out.print(table)


@sandbox_app.command("generate")
def sandbox_generate(
    scale: Annotated[str, typer.Option(help="small, medium or large.")] = "small",
    seed: Annotated[int, typer.Option(help="Same seed and scale give identical data.")] = 42,
    rate: Annotated[
        float, typer.Option(help="Share of eligible records given an injected discrepancy.")
    ] = 0.03,
    end: Annotated[
        str, typer.Option(help="The simulated clock at the end of history (YYYY-MM-DD).")
    ] = "2026-11-01",
    months: Annotated[int, typer.Option(help="Months of history before the clock.")] = 24,
    profile: Annotated[
        str,
        typer.Option(
            help="Company conventions: classic, northwind, meridian, or a path to a .toml"
            " profile (see docs/sandbox-data.md, Profiles)."
        ),
    ] = "classic",
) -> None:
    """Generate the simulated company under $CLOSELOOP_HOME/sandbox (replaces any existing one)."""
    from sandbox.generator import SCALES, generate
    from sandbox.generator.profile import ProfileError, load_profile
    from sandbox.schema import SandboxPaths

    if scale not in SCALES:
        console.print(f"[red]error:[/red] unknown scale {scale!r}; choose one of {sorted(SCALES)}")
        raise typer.Exit(2)
    if not 0.0 <= rate <= 0.5:
        console.print("[red]error:[/red] --rate must be between 0 and 0.5")
        raise typer.Exit(2)
    try:
        end_date = dt.date.fromisoformat(end)
    except ValueError as exc:
        console.print(f"[red]error:[/red] --end must be YYYY-MM-DD, got {end!r}")
        raise typer.Exit(2) from exc
    try:
        conventions = load_profile(profile)
    except ProfileError as exc:
        console.print(f"[red]error:[/red] --profile: {exc}")
        raise typer.Exit(2) from exc
    paths = SandboxPaths.under(_settings().home)
    started = time.perf_counter()
    manifest = _run_with_progress(
        f"generating {scale}",
        generate,
        paths=paths,
        seed=seed,
        scale=scale,
        discrepancy_rate=rate,
        end=end_date,
        months=months,
        profile=conventions,
    )
    _print_manifest(manifest, paths.root)
    out.print(f"generated in {time.perf_counter() - started:.1f} s")


@sandbox_app.command("advance")
def sandbox_advance(
    days: Annotated[int, typer.Option(min=1, help="Days to move the simulated clock.")] = 1,
) -> None:
    """Move the simulated clock: new records, updates and deletes in all three systems."""
    from sandbox.generator import advance
    from sandbox.schema import SandboxPaths

    paths = SandboxPaths.under(_settings().home)
    if not paths.exists():
        console.print(
            f"[red]error:[/red] no sandbox at {paths.root}; run `closeloop sandbox generate`"
        )
        raise typer.Exit(1)
    manifest = _run_with_progress(f"advancing {days} day(s)", advance, paths=paths, days=days)
    out.print(f"clock now {manifest.get('clock')}")


@sandbox_app.command("info")
def sandbox_info() -> None:
    """Show the generated sandbox: row counts and injected discrepancies by type."""
    from sandbox.schema import SandboxPaths

    paths = SandboxPaths.under(_settings().home)
    if not paths.exists():
        console.print(
            f"[red]error:[/red] no sandbox at {paths.root}; run `closeloop sandbox generate`"
        )
        raise typer.Exit(1)
    manifest = json.loads(paths.manifest.read_text())
    _print_manifest(manifest, paths.root)
    if paths.profile.exists():
        _print_profile(json.loads(paths.profile.read_text()))
    counts: Counter[str] = Counter()
    if paths.ground_truth.exists():
        with paths.ground_truth.open() as fh:
            for line in fh:
                if line.strip():
                    counts[json.loads(line)["exception_type"]] += 1
    table = Table(title="injected discrepancies (ground truth)")
    table.add_column("exception_type")
    table.add_column("count", justify="right")
    for kind, n in sorted(counts.items()):
        table.add_row(kind, str(n))
    out.print(table)


def _serve_options(
    settings: Settings,
    ports: dict[str, int],
    tls: bool,
    faults: str,
    per_system: dict[str, str | None],
) -> Any:
    from closeloop.demo import sandbox_tokens
    from sandbox.http_common import FaultConfig
    from sandbox.server import ServeOptions

    fault_cfg = {}
    for system in ("crm", "billing", "erp"):
        spec = per_system.get(system) or sandbox_faults(system, faults)
        try:
            fault_cfg[system] = FaultConfig.parse(spec or "")
        except ValueError as exc:
            console.print(f"[red]error:[/red] bad fault setting for {system}: {exc}")
            raise typer.Exit(2) from exc
    return ServeOptions(ports=ports, tokens=sandbox_tokens(settings), faults=fault_cfg, tls=tls)


@sandbox_app.command("serve")
def sandbox_serve(
    crm_port: Annotated[int, typer.Option(help="CRM (Salesforce) port.")] = SANDBOX_DEFAULT_PORTS[
        "crm"
    ],
    billing_port: Annotated[
        int, typer.Option(help="Billing (Stripe) port.")
    ] = SANDBOX_DEFAULT_PORTS["billing"],
    erp_port: Annotated[int, typer.Option(help="ERP (NetSuite) port.")] = SANDBOX_DEFAULT_PORTS[
        "erp"
    ],
    tls: Annotated[
        bool, typer.Option(help="Serve HTTPS with a generated certificate (CA under sandbox/tls).")
    ] = False,
    faults: Annotated[
        str,
        typer.Option(
            help="Faults for all APIs, e.g. 'rate=0.1,kinds=429+503+drop,seed=7' "
            f"(or ${SANDBOX_FAULTS_ENV})."
        ),
    ] = "",
    crm_faults: Annotated[str | None, typer.Option(help="Faults for the CRM only.")] = None,
    billing_faults: Annotated[str | None, typer.Option(help="Faults for billing only.")] = None,
    erp_faults: Annotated[str | None, typer.Option(help="Faults for the ERP only.")] = None,
) -> None:
    """Serve the CRM, billing and ERP APIs on 127.0.0.1 until interrupted."""
    from sandbox.schema import SandboxPaths
    from sandbox.server import running

    settings = _settings()
    paths = SandboxPaths.under(settings.home)
    options = _serve_options(
        settings,
        {"crm": crm_port, "billing": billing_port, "erp": erp_port},
        tls,
        faults,
        {"crm": crm_faults, "billing": billing_faults, "erp": erp_faults},
    )
    import signal
    import threading

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        with running(paths, options) as sandbox:
            for system, url in sandbox.urls.items():
                out.print(f"{system:<8} {url}")
            if sandbox.ca_path:
                out.print(f"CA file  {sandbox.ca_path}  (set {CA_BUNDLE_ENV} to it)")
            # how to point closeloop at it; a token the user configured is never printed
            out.print("to ingest from it, export:", style="dim")
            for name, value in source_env_values(sandbox.urls, options.tokens).items():
                shown = value if value in SANDBOX_DEFAULT_TOKENS.values() else "<as configured>"
                out.print(f"  {name}={value if name.endswith('BASE_URL') else shown}", style="dim")
            out.print("serving; Ctrl-C to stop", style="dim")
            sys.stdout.flush()
            stop.wait()
    except (FileNotFoundError, OSError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc


@sandbox_app.command("peek")
def sandbox_peek(
    rows: Annotated[int, typer.Option(min=1, max=20, help="Records to show per API.")] = 3,
) -> None:
    """Serve the sandbox in-process and show a few records from each API, fetched over HTTP."""
    from sandbox.peek import peek
    from sandbox.schema import SandboxPaths

    settings = _settings()
    paths = SandboxPaths.under(settings.home)
    options = _serve_options(settings, {"crm": 0, "billing": 0, "erp": 0}, False, "", {})
    try:
        for title, payload in peek(paths, options, rows):
            out.rule(title)
            out.print_json(data=payload)
    except FileNotFoundError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from exc


@app.command("demo")
def demo(
    scale: Annotated[str, typer.Option(help="Scale of the simulated company.")] = "small",
    fresh: Annotated[bool, typer.Option(help="Regenerate even if a sandbox exists.")] = False,
) -> None:
    """What `make demo` runs once set up: the sandbox company (generated if needed, or again
    with --fresh), then the whole loop once (`closeloop run`), then where to look."""
    from sandbox.schema import SandboxPaths

    paths = SandboxPaths.under(_settings().home)
    if fresh or not paths.exists():
        sandbox_generate(scale=scale, seed=42, rate=0.03, end="2026-11-01", months=24)
    else:
        out.print(f"using the existing sandbox at {paths.root} (--fresh to regenerate)")
    sandbox_info()
    run(scale=scale, as_json=False)
    out.print(
        "\nNext: `closeloop ui` shows this run in Dagster (http://127.0.0.1:3000);"
        " `closeloop writeback status` counts the corrections by status (approve with"
        " `closeloop writeback approve`, see the README); `closeloop sandbox peek` shows the"
        " three systems' records."
    )


@app.command("ingest")
def ingest(
    system: Annotated[str, typer.Argument(help="crm, billing, erp or all.")] = "all",
    full_refresh: Annotated[
        bool, typer.Option("--full-refresh", help="Drop the raw tables and state; load all again.")
    ] = False,
) -> None:
    """Land the source systems in raw_crm / raw_billing / raw_erp (incremental by default)."""
    from ingestion.pipelines import SYSTEMS, IngestError, run_ingest

    if system != "all" and system not in SYSTEMS:
        console.print(
            f"[red]error:[/red] unknown system {system!r}; choose crm, billing, erp or all"
        )
        raise typer.Exit(2)
    systems = list(SYSTEMS) if system == "all" else [system]
    settings = _settings()
    with Progress(
        TextColumn("[bold]{task.description:<36}"),
        TextColumn("{task.fields[rows]:>10,} rows"),
        TextColumn("{task.fields[rejected]:>6,} rejected"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
        tasks: dict[tuple[str, str], Any] = {}

        def report(sys_name: str, table: str, counters: Any) -> None:
            key = (sys_name, table)
            if key not in tasks:
                tasks[key] = progress.add_task(f"{sys_name}.{table}", rows=0, rejected=0)
            progress.update(tasks[key], rows=counters.rows, rejected=counters.rejected)

        try:
            summaries = run_ingest(systems, settings, full_refresh=full_refresh, on_progress=report)
        except IngestError as exc:
            console.print(f"[red]error:[/red] {exc}")
            raise typer.Exit(1) from None
    table = Table(title="ingestion summary")
    for column in ("system", "table", "rows loaded", "rejected", "deleted", "seconds"):
        table.add_column(column, justify="left" if column in ("system", "table") else "right")
    for summary in summaries:
        for t in summary.tables:
            table.add_row(
                t.system,
                t.table,
                f"{t.rows_loaded:,}",
                f"{t.rows_rejected:,}",
                f"{t.rows_deleted:,}",
                f"{t.seconds:.2f}",
            )
        table.add_row(
            f"[bold]{summary.system}[/bold]",
            "[bold]total[/bold]",
            f"{summary.rows_loaded:,}",
            f"{summary.rows_rejected:,}",
            "",
            f"{summary.seconds:.2f}",
        )
    out.print(table)
    rejected = sum(s.rows_rejected for s in summaries)
    if rejected:
        out.print(
            f"{rejected:,} record(s) quarantined: select * from raw_<system>.quarantine",
            style="yellow",
        )
    # what a source could not see (a permission the role lacks) and what it did instead
    for summary in summaries:
        for warning in summary.warnings:
            out.print(f"warning: {warning}", style="yellow", soft_wrap=True)


# --------------------------------------------------------------------------------------
# writeback: governed corrections to the ERP (reverse_etl)
# --------------------------------------------------------------------------------------

writeback_app = typer.Typer(
    help="Governed corrections back to the ERP: plan, approve, apply, verify.",
    no_args_is_help=True,
)
app.add_typer(writeback_app, name="writeback")

PolicyOption = Annotated[
    Path | None,
    typer.Option("--policy", help="Policy file (default: reverse_etl/policy.yml)."),
]


def _writeback_policy(path: Path | None) -> Any:
    from reverse_etl.policy import PolicyError, load_policy

    try:
        return load_policy(path)
    except PolicyError as exc:
        console.print(f"[red]invalid policy:[/red] {exc}")
        raise typer.Exit(2) from None


def _locked(exc: Exception) -> None:
    console.print(
        f"[red]error:[/red] the warehouse is busy (another closeloop step holds it): {exc}"
    )
    raise typer.Exit(1) from None


@writeback_app.command("plan")
def writeback_plan(
    policy: PolicyOption = None,
    show: Annotated[int, typer.Option(help="Rows of the plan to print (0: all).")] = 50,
) -> None:
    """Read erp_corrections, check each against the policy and the live ERP; store the plan.

    A dry run: nothing is written to the ERP (that is `apply`).
    """
    import duckdb

    from reverse_etl.client import ErpError
    from reverse_etl.corrections import ContractError
    from reverse_etl.runner import run_plan

    pol = _writeback_policy(policy)
    try:
        run_id, items, counts = run_plan(_settings(), pol)
    except ContractError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    except ErpError as exc:
        console.print(f"[red]error:[/red] the ERP refused the plan's reads: {exc}")
        raise typer.Exit(1) from None
    except duckdb.IOException as exc:
        _locked(exc)
    table = Table(title=f"write-back plan {run_id} (dry run: nothing written)")
    for column in ("correction", "exception type", "record", "decision", "reason"):
        table.add_column(column)
    styles = {"apply": "green", "skip": "dim", "approval": "yellow", "refused": "red"}
    for item in items[: show or None]:
        target = item.erp_id or item.external_id or ""
        table.add_row(
            item.correction_id,
            item.exception_type,
            f"{item.record_type} {target}",
            f"[{styles.get(item.decision, '')}]{item.decision}[/]",
            item.reason,
        )
    out.print(table)
    if show and len(items) > show:
        out.print(f"... {len(items) - show} more (--show 0 prints all)")
    decided = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))
    out.print(f"plan stored in the ledger ({decided}); `closeloop writeback apply` writes it")


@writeback_app.command("approve")
def writeback_approve(
    ids: Annotated[list[str] | None, typer.Argument(help="Correction ids to approve.")] = None,
    all_of_type: Annotated[
        str | None, typer.Option("--all-of-type", help="Approve every one of this exception type.")
    ] = None,
    approver: Annotated[
        str | None,
        typer.Option(envvar=APPROVER_ENV, help=f"Who approves (or {APPROVER_ENV})."),
    ] = None,
    policy: PolicyOption = None,
) -> None:
    """Approve planned corrections that need approval; who and when go to the ledger."""
    import duckdb

    from reverse_etl.runner import run_approve

    if bool(ids) == bool(all_of_type):
        console.print("[red]error:[/red] give correction ids or --all-of-type, not both")
        raise typer.Exit(2)
    if not approver or not approver.strip():
        console.print(f"[red]error:[/red] no approver: pass --approver or set {APPROVER_ENV}")
        raise typer.Exit(2)
    pol = _writeback_policy(policy)
    try:
        approved, problems = run_approve(_settings(), pol, approver.strip(), ids, all_of_type)
    except duckdb.IOException as exc:
        _locked(exc)
    for problem in problems:
        console.print(f"[yellow]not approved:[/yellow] {problem}")
    out.print(f"{len(approved)} correction(s) approved by {approver.strip()}")
    if problems:
        raise typer.Exit(1)


@writeback_app.command("apply")
def writeback_apply(
    policy: PolicyOption = None,
    max_rows: Annotated[
        int | None, typer.Option(help="Write at most this many (below the policy's limit).")
    ] = None,
) -> None:
    """Write the approved and auto-approved corrections to the ERP, each exactly once."""
    import duckdb

    from reverse_etl.runner import run_apply

    pol = _writeback_policy(policy)
    try:
        result = run_apply(_settings(), pol, max_rows=max_rows)
    except duckdb.IOException as exc:
        _locked(exc)
    table = Table(title=f"write-back apply {result.run_id}")
    table.add_column("outcome")
    table.add_column("corrections", justify="right")
    for key, value in result.as_dict().items():
        if key not in ("stopped",):
            table.add_row(key, str(value))
    out.print(table)
    for error in result.errors[:20]:
        console.print(f"[yellow]{error}[/yellow]")
    if result.stopped:
        console.print(f"[red]stopped:[/red] {result.stopped}")
        raise typer.Exit(1)


@writeback_app.command("verify")
def writeback_verify(policy: PolicyOption = None) -> None:
    """After `ingest erp` and `transform`: mark applied corrections verified or escalated, then
    rebuild the exception history so it shows them."""
    import duckdb

    from reverse_etl.corrections import ContractError
    from reverse_etl.runner import run_verify

    pol = _writeback_policy(policy)
    try:
        result = run_verify(_settings(), pol)
    except ContractError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(1) from None
    except duckdb.IOException as exc:
        _locked(exc)
    out.print(
        f"{len(result.verified)} verified, {len(result.escalated)} escalated (still open), "
        f"{result.awaiting_approval} awaiting approval"
    )
    for cid in result.escalated[:50]:
        console.print(f"[yellow]escalated:[/yellow] {cid}")
    if result.verified or result.escalated:
        # the exception history after the verdicts (verified_closed, escalated): docs/exceptions.md
        from closeloop.close import dbt_failure
        from closeloop.exceptions import refresh_history

        history = refresh_history(_settings())
        if not history.success:
            console.print(
                "[yellow]warn:[/yellow] recon_exception_history not rebuilt: "
                + dbt_failure(history)
            )


@writeback_app.command("status")
def writeback_status() -> None:
    """Corrections in the ledger by status."""
    import duckdb

    from reverse_etl.ledger import Ledger

    try:
        with Ledger.open(_settings()) as ledger:
            summary = ledger.summary()
    except duckdb.IOException as exc:
        _locked(exc)
    for status, n in summary.items():
        out.print(f"{status:<20} {n:>8,}")


# --------------------------------------------------------------------------------------
# run / ui: the whole loop through Dagster (orchestration)
# --------------------------------------------------------------------------------------


def _print_loop_summary(summary: Any) -> None:
    table = Table(title=f"closeloop run {summary.run_id[:8]}")
    table.add_column("what")
    table.add_column("figure", justify="right")
    for dataset, rows in summary.rows_landed.items():
        table.add_row(f"rows landed in {dataset}", f"{rows:,}")
    if summary.rows_rejected:
        table.add_row("records quarantined", f"{summary.rows_rejected:,}")
    table.add_row("models built", str(summary.models_built))
    table.add_row("tests and checks passed", str(summary.checks_passed))
    table.add_row("checks warning", str(summary.checks_warned))
    table.add_row("tests and checks failed", str(summary.checks_failed))
    found = summary.exceptions_by_type
    table.add_row("exceptions found", f"{sum(found.values()):,}")
    for kind, n in sorted(found.items()):
        table.add_row(f"  {kind}", f"{n:,}")
    for key in ("planned", "applied", "verified", "escalated", "waiting_for_approval"):
        if key in summary.corrections:
            table.add_row(f"corrections {key.replace('_', ' ')}", f"{summary.corrections[key]:,}")
    issues = summary.data_quality_issues
    table.add_row("rows kept but flagged (ops.dq_issues)", f"{sum(issues.values()):,}")
    for kind, n in sorted(issues.items()):
        table.add_row(f"  {kind}", f"{n:,}")
    out.print(table)
    for warning in summary.source_warnings:
        console.print(f"[yellow]could not see:[/yellow] {warning}")
    if issues:
        console.print(
            "flagged rows are listed with their reason in ops.dq_issues; "
            "`closeloop doctor` suggests the settings that would resolve them",
            style="dim",
        )
    slowest = sorted(summary.stage_seconds.items(), key=lambda kv: -kv[1])[:6]
    out.print("stages: " + ", ".join(f"{step} {sec:.1f} s" for step, sec in slowest), style="dim")
    for failure in summary.failures[:20]:
        console.print(f"[red]failed:[/red] {failure}")


def _verbose() -> bool:
    return logging.getLogger().getEffectiveLevel() <= logging.DEBUG


@contextlib.contextmanager
def _output_to(log_file: Any, *, keep_terminal: bool = False) -> Iterator[None]:
    """Send stdout, stderr and the logging handlers' output to `log_file` for the block.

    With `keep_terminal` (`closeloop -v`), output stays on the terminal as well as it was.
    """
    if keep_terminal:
        yield
        return
    root = logging.getLogger()
    moved: list[tuple[logging.StreamHandler[Any], Any]] = []
    for handler in root.handlers:
        if isinstance(handler, logging.StreamHandler) and not isinstance(
            handler, logging.FileHandler
        ):
            moved.append((handler, handler.setStream(log_file)))
    try:
        with contextlib.redirect_stdout(log_file), contextlib.redirect_stderr(log_file):
            yield
    finally:
        for handler, stream in moved:
            handler.setStream(stream)


def _check_sources(settings: Settings) -> None:
    configured = [name for name, src in settings.sources().items() if src.configured]
    if configured and len(configured) < 3:
        console.print(
            f"[red]error:[/red] only {', '.join(configured)} has a {BASE_URL_ENV_PATTERN}: "
            "set all three, or none to use the sandbox"
        )
        raise typer.Exit(2)


@app.command("run")
def run(
    scale: Annotated[
        str, typer.Option(help="Sandbox scale to generate when none exists.")
    ] = "small",
    profile: Annotated[
        str | None,
        typer.Option(
            help="Sandbox profile to generate with when none exists (see docs/sandbox-data.md)."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """The whole loop once, in-process through Dagster: ingest, build, plan, apply, verify.

    Starts the sandbox (generating it at --scale if needed) unless all SOURCES__*__BASE_URL
    are set; the run is recorded under $CLOSELOOP_HOME/dagster, so `closeloop ui` shows it.
    """
    from closeloop.demo import sandbox_configured, sources_for
    from orchestration.loop import patched_environ, run_loop

    settings = _settings()
    started = time.perf_counter()
    _check_sources(settings)
    log_path = settings.home / "logs" / f"run-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    # bound to the terminal now: while the loop runs, everything it prints (Dagster's event
    # lines, dbt's, the connectors' logs) goes to the log file; the terminal gets one line a step
    terminal = Console(file=sys.stderr)
    terminal.print(f"closeloop run: one line per step; the full log is {log_path}")
    if not sandbox_configured(settings):
        terminal.print(f"  serving the sandbox under {settings.home} (generated first if missing)")

    def step_done(step: str, outcome: str, seconds: float | None) -> None:
        mark = "[green]done[/green]" if outcome == "success" else "[red]failed[/red]"
        took = f"{seconds:7.1f} s" if seconds is not None else ""
        terminal.print(f"  {step:<60} {mark} {took}")

    with (
        log_path.open("w", encoding="utf-8") as log_file,
        _output_to(log_file, keep_terminal=_verbose()),
        sources_for(settings, scale=scale, profile=profile) as env,
        patched_environ(env),
    ):
        summary = run_loop(Settings.from_env(), on_step=step_done)
    if as_json:
        out.print_json(data=summary.as_dict())
    else:
        _print_loop_summary(summary)
        elapsed = time.perf_counter() - started
        if summary.success:
            out.print(f"loop closed in {elapsed:.1f} s; `closeloop ui` shows the run")
        else:
            out.print(f"run failed after {elapsed:.1f} s; `closeloop ui` shows where and why")
        out.print(f"full log: {log_path}", style="dim")
    if not summary.success:
        raise typer.Exit(1)


@app.command("ui")
def ui(
    host: Annotated[str, typer.Option(help="Interface of the Dagster UI.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port of the Dagster UI.")] = 3000,
    scale: Annotated[
        str, typer.Option(help="Sandbox scale to generate when none exists.")
    ] = "small",
) -> None:
    """Serve the sandbox (unless external sources are configured) and the Dagster UI."""
    from closeloop.demo import sources_for
    from orchestration.ui import serve_ui

    settings = _settings()
    _check_sources(settings)

    def ready(env: dict[str, str]) -> None:
        for name, value in sorted(env.items()):
            if name.endswith("BASE_URL"):
                out.print(f"{name:<28} {value}")
        out.print(f"Dagster UI on http://{host}:{port} (Ctrl-C stops everything)")

    with sources_for(settings, scale=scale) as env:
        code = serve_ui(settings, env, host=host, port=port, on_ready=ready)
    if code:
        raise typer.Exit(code)


@app.command(
    "transform",
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def transform(
    ctx: typer.Context,
    command: Annotated[
        str, typer.Argument(help="dbt command: build, run, test, parse, compile, ...")
    ] = "build",
    full_refresh: Annotated[
        bool, typer.Option("--full-refresh", help="Rebuild incremental models from scratch.")
    ] = False,
    target: Annotated[
        str | None, typer.Option("--target", help="dbt target (default: DBT_TARGET or dev).")
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Build as of a past instant (ISO 8601, UTC unless an offset is given), from the "
            "records known then (dbt var known_as_of; implies --full-refresh; docs/close.md).",
        ),
    ] = None,
) -> None:
    """Build the warehouse layers with dbt (staging, core, recon, kpi, ops, writeback)."""
    from transform import run_dbt

    extra = list(ctx.args)
    if as_of is not None:
        from closeloop.close import known_as_of_var

        try:
            instant = known_as_of_var(as_of)
        except ValueError:
            console.print(f"[red]error:[/red] --as-of {as_of!r} is not an ISO 8601 instant")
            raise typer.Exit(2) from None
        if any(a == "--vars" or a.startswith("--vars=") for a in extra):
            console.print("[red]error:[/red] give known_as_of inside --vars, or --as-of alone")
            raise typer.Exit(2)
        # every model from the records known then: incremental ones too (the history and the
        # frozen closes are full_refresh: false, and a point-in-time build never writes them)
        full_refresh = full_refresh or command in ("build", "run")
        extra += ["--vars", json.dumps({"known_as_of": instant})]
    args = [command, *(["--full-refresh"] if full_refresh else []), *extra]
    started = time.monotonic()
    outcome = run_dbt(args, _settings(), target=target)
    counts = ", ".join(f"{n} {status}" for status, n in sorted(outcome.counts().items()))
    out.print(f"dbt {command}: {counts or 'nothing to do'} in {time.monotonic() - started:.1f} s")
    for line in outcome.warnings:
        console.print(f"[yellow]warn:[/yellow] {line}")
    for line in outcome.failures:
        console.print(f"[red]failed:[/red] {line}")
    if outcome.exception is not None:
        console.print(f"[red]error:[/red] {outcome.exception}")
    if not outcome.success:
        raise typer.Exit(1)
    if as_of is not None:
        out.print(f"built as of {instant} (records known then): not published for BI")
        out.print(
            "this warehouse now holds that instant: `closeloop transform build --full-refresh` "
            "brings it back to now (docs/close.md)",
            style="dim",
        )
    elif command in ("build", "run", "seed", "snapshot") and target in (None, "dev"):
        from closeloop.publish import publish_after_build

        published = publish_after_build(_settings())
        if published is not None:
            out.print(f"read-only copy for BI: {published.path} (docs/bi.md)", style="dim")


@app.command("doctor")
def doctor(
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    limit: Annotated[int, typer.Option(help="Items each list shows (the rest is counted).")] = 20,
) -> None:
    """Read the landing (and the dbt models, when built) and report which conventions the data
    follows, link coverage, unmapped products, currencies without rates and the settings to
    set (docs/conventions.md). Exit 0 even when it finds problems; 2 when nothing has landed."""
    from closeloop.doctor import DoctorError, render, run_doctor

    try:
        report = run_doctor(_settings(), limit=limit)
    except DoctorError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(json.dumps(report, indent=2, default=str))
    else:
        render(report, out)


# close / reopen: period close (docs/close.md)


@app.command("close")
def close(
    period: Annotated[str, typer.Option(help="The month to close, YYYY-MM.")],
    by: Annotated[
        str | None,
        typer.Option(
            "--by", envvar=APPROVER_ENV, help=f"Who closes (or {APPROVER_ENV}; else the OS user)."
        ),
    ] = None,
) -> None:
    """Close a month: record it and freeze its KPIs, their documents and the open exceptions as
    reported (kpi_monthly_as_reported, recon_exceptions_as_reported). Later builds show
    restatements beside them (kpi_monthly_restated, kpi_restatement_documents)."""
    from closeloop.close import CloseError, close_period

    try:
        done = close_period(_settings(), period, by)
    except CloseError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    out.print(
        f"{done.period} closed by {done.actor}: figures frozen in kpi.kpi_monthly_as_reported; "
        "restatements will show in kpi.kpi_monthly_restated"
    )


@app.command("reopen")
def reopen(
    period: Annotated[str, typer.Option(help="The closed month to reopen, YYYY-MM.")],
    reason: Annotated[str, typer.Option(help="Why it is reopened (recorded; required).")],
    by: Annotated[
        str | None,
        typer.Option(
            "--by", envvar=APPROVER_ENV, help=f"Who reopens (or {APPROVER_ENV}; else the OS user)."
        ),
    ] = None,
) -> None:
    """Reopen a closed month, with a reason. The close stays on record (period_close.period_log
    and its frozen figures); closing again freezes the figures anew."""
    from closeloop.close import CloseError, reopen_period

    try:
        done = reopen_period(_settings(), period, reason, by)
    except CloseError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    out.print(f"{done.period} reopened by {done.actor}: {reason.strip()}")


# exceptions: reconciliation exceptions as tracked work (docs/exceptions.md)

exceptions_app = typer.Typer(
    help="Reconciliation exceptions as tracked work: list, assign, accept (docs/exceptions.md).",
    no_args_is_help=True,
)
app.add_typer(exceptions_app, name="exceptions")


@exceptions_app.command("list")
def exceptions_list(
    status: Annotated[
        str | None, typer.Option(help="Only this status (open, planned, awaiting_approval, ...).")
    ] = None,
    exception_type: Annotated[str | None, typer.Option("--type", help="Only this type.")] = None,
    owner: Annotated[str | None, typer.Option(help="Only this owner's.")] = None,
    all_: Annotated[bool, typer.Option("--all", help="Closed and accepted ones too.")] = False,
    limit: Annotated[int, typer.Option(help="Rows shown, oldest first.")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List exceptions with their status, owner and age, and count them by status."""
    from closeloop.exceptions import STATUSES, ExceptionWorkError, list_exceptions

    if status is not None and status not in STATUSES:
        console.print(f"[red]error:[/red] unknown status {status!r}; one of {', '.join(STATUSES)}")
        raise typer.Exit(2)
    try:
        rows, counts = list_exceptions(
            _settings(),
            status=status,
            exception_type=exception_type,
            owner=owner,
            include_closed=all_,
            limit=limit,
        )
    except ExceptionWorkError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(json.dumps({"counts": counts, "exceptions": rows}, indent=2, default=str))
        return
    out.print("by status: " + ", ".join(f"{s} {counts.get(s, 0)}" for s in STATUSES))
    table = Table(show_lines=False)
    for column in ("exception_id", "type", "status", "severity", "usd delta", "age", "owner"):
        table.add_column(column)
    for r in rows:
        table.add_row(
            str(r["exception_id"]),
            str(r["exception_type"]),
            str(r["status"]),
            str(r["severity"] or ""),
            "" if r["amount_delta_usd"] is None else str(r["amount_delta_usd"]),
            f"{r['age_days']} d",
            str(r["owner"] or ""),
        )
    out.print(table)


def _exception_action(
    ids: list[str], action: str, by: str | None, owner: str = "", reason: str = ""
) -> None:
    from closeloop.exceptions import ExceptionWorkError, record_action

    try:
        done = record_action(_settings(), ids, action, actor=by, owner=owner, reason=reason)
    except ExceptionWorkError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    out.print(f"{action} recorded for {len(done.ids)} exception(s) by {done.actor}")


@exceptions_app.command("assign")
def exceptions_assign(
    ids: Annotated[list[str], typer.Argument(help="Exception ids.")],
    owner: Annotated[str, typer.Option(help="Who works them.")],
    by: Annotated[
        str | None, typer.Option("--by", envvar=APPROVER_ENV, help="Who assigns.")
    ] = None,
) -> None:
    """Assign exceptions to an owner."""
    _exception_action(ids, "assign", by, owner=owner)


@exceptions_app.command("accept")
def exceptions_accept(
    ids: Annotated[list[str], typer.Argument(help="Exception ids.")],
    reason: Annotated[str, typer.Option(help="Why they are accepted as they are (recorded).")],
    by: Annotated[
        str | None, typer.Option("--by", envvar=APPROVER_ENV, help="Who accepts.")
    ] = None,
) -> None:
    """Accept exceptions as they are, with a reason: they leave the open work."""
    _exception_action(ids, "accept", by, reason=reason)


@exceptions_app.command("reopen")
def exceptions_reopen(
    ids: Annotated[list[str], typer.Argument(help="Exception ids.")],
    reason: Annotated[str, typer.Option(help="Why the acceptance is undone (recorded).")],
    by: Annotated[
        str | None, typer.Option("--by", envvar=APPROVER_ENV, help="Who reopens.")
    ] = None,
) -> None:
    """Undo an acceptance, with a reason: the exceptions are work again."""
    _exception_action(ids, "reopen", by, reason=reason)


# metrics: the semantic layer (docs/bi.md)

metrics_app = typer.Typer(
    help="The KPIs by name, through the semantic layer (MetricFlow; docs/bi.md).",
    no_args_is_help=True,
)
app.add_typer(metrics_app, name="metrics")


@metrics_app.command("query")
def metrics_query(
    metrics: Annotated[str, typer.Option(help="Comma-separated metrics, e.g. mrr,mrr_usd.")],
    group_by: Annotated[
        str,
        typer.Option(
            help="Comma-separated dimensions, e.g. metric_time__month,kpi_monthly__currency_code."
        ),
    ] = "metric_time__month",
    order_by: Annotated[str, typer.Option(help="Comma-separated; -name for descending.")] = "",
    limit: Annotated[int | None, typer.Option(help="At most this many rows.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    show_sql: Annotated[bool, typer.Option("--sql", help="Print the SQL MetricFlow ran.")] = False,
) -> None:
    """Answer metrics by dimensions with MetricFlow's engine, offline (what `mf query` does,
    without its version check)."""
    import logging

    from closeloop.semantic import query_metrics

    for name in ("metricflow", "metricflow_semantics", "dbt_metricflow"):
        logging.getLogger(name).setLevel(logging.WARNING)  # the answer, not the engine's log

    def split(value: str) -> list[str]:
        return [v.strip() for v in value.split(",") if v.strip()]

    try:
        answer = query_metrics(
            split(metrics), split(group_by), _settings(), order_by=split(order_by), limit=limit
        )
    except Exception as exc:  # MetricFlow's own errors name the unknown metric or dimension
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(json.dumps(answer.records(), indent=2, default=str))
    else:
        table = Table()
        for column in answer.columns:
            table.add_column(column)
        for row in answer.rows:
            table.add_row(*("" if v is None else str(v) for v in row))
        out.print(table)
    if show_sql:
        out.print(answer.sql, style="dim")


if __name__ == "__main__":
    app()
