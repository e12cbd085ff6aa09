"""`python -m sandbox.generator`: build (or advance) a sandbox and print how long it took."""

from __future__ import annotations

import argparse
import logging
import resource
import time
from datetime import date
from pathlib import Path

from sandbox.generator import SCALES, advance, build, generate
from sandbox.schema import SandboxPaths


def main() -> None:
    """Command-line entry: generate a sandbox, or advance one, and report the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("root", type=Path, help="directory of the sandbox (its files go here)")
    parser.add_argument("--scale", default="small", choices=sorted(SCALES))
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--customers", type=int, default=None)
    parser.add_argument("--end", type=date.fromisoformat, default=date(2026, 11, 1))
    parser.add_argument("--advance", type=int, default=0, help="advance N days instead")
    parser.add_argument("--profile", default="classic", help="profile name or .toml path")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    log = logging.getLogger("sandbox.generator")
    paths = SandboxPaths(args.root)
    started = time.perf_counter()
    if args.advance:
        manifest = advance(paths, days=args.advance)
    else:
        manifest = generate(
            paths,
            seed=args.seed,
            scale=args.scale,
            end=args.end,
            customers=args.customers,
            profile=args.profile,
        )
    seconds = time.perf_counter() - started
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # the SQLite writers run in child processes: their peaks count too
    writer_mb = build.last_writer_peak_rss / 1024
    counts = manifest["counts"]
    log.info(
        "%s: %.1f s, peak RSS %.0f MB (simulation %.0f MB + writers %.0f MB),"
        " %d customers, %d invoices, %d ERP transactions",
        manifest["scale"],
        seconds,
        rss_mb + writer_mb,
        rss_mb,
        writer_mb,
        counts.get("customers", 0),
        counts.get("invoices", 0),
        counts.get("transaction", 0),
    )


if __name__ == "__main__":
    main()
