"""`closeloop ui`: `dagster dev` on the project's definitions, against the given sources."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from closeloop.settings import DAGSTER_HOME_ENV, Settings, disable_telemetry
from orchestration.project import ensure_manifest, prepare_dagster_home

log = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
#: Seconds `dagster dev` gets to stop its webserver, daemon and code server before SIGKILL.
STOP_GRACE_SECONDS = 20.0


def dagster_dev_command(host: str, port: int) -> list[str]:
    """The `dagster dev` command line serving the project's definitions."""
    dagster = Path(sys.executable).with_name("dagster")
    return [
        str(dagster) if dagster.exists() else "dagster",
        "dev",
        "-m",
        "orchestration.definitions",
        "--working-directory",
        str(PROJECT_ROOT),
        "--host",
        host,
        "--port",
        str(port),
    ]


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    """Stop `dagster dev` and everything it started (it runs in its own session)."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=STOP_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        log.warning("dagster dev did not stop in %.0f s; killing it", STOP_GRACE_SECONDS)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    except ProcessLookupError:
        pass


def serve_ui(
    settings: Settings,
    env: dict[str, str],
    host: str = "127.0.0.1",
    port: int = 3000,
    on_ready: Callable[[dict[str, str]], None] | None = None,
) -> int:
    """Serve the Dagster UI until interrupted (SIGINT or SIGTERM).

    Args:
        settings: closeloop settings.
        env: the environment naming the sources (`SOURCES__*`) and the home.
        host: interface of the Dagster webserver.
        port: port of the Dagster webserver.
        on_ready: called with `env` once the UI is started.

    Returns:
        The exit code of `dagster dev` (0 after an interrupt).
    """
    stop = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        ensure_manifest(settings, force=True)
        child_env = dict(os.environ)
        child_env.update(env)
        child_env[DAGSTER_HOME_ENV] = str(prepare_dagster_home(settings))
        disable_telemetry(child_env)
        # its own session: `dagster dev` ignores signals from a non-interactive parent
        # otherwise, and the whole group (webserver, daemon, code server) must stop
        proc = subprocess.Popen(
            dagster_dev_command(host, port),
            env=child_env,
            cwd=PROJECT_ROOT,
            start_new_session=True,
        )
        if on_ready:
            on_ready(env)
        try:
            while not stop.is_set() and proc.poll() is None:
                stop.wait(0.5)
        finally:
            _stop_group(proc)
        return 0 if stop.is_set() else int(proc.returncode or 0)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
