"""Milestone 3: faults, Retry-After, persistent failures, kill -9 and credentials."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingestion.http import RetryPolicy
from ingestion.pipelines import IngestError, run_system
from sandbox.http_common import FaultConfig
from tests.ingestion.support import env_for, patched_env, served, snapshot

#: What a fault run reads: every paging scheme and child table, not every big table (time).
SUBSETS = {
    "crm": None,
    "billing": ["customers", "products", "prices", "subscriptions", "invoices", "events"],
    "erp": ["subsidiary", "currency", "accountingperiod", "customer", "item", "currencyrate"],
}
FAULTS = FaultConfig(rate=0.12, kinds=("429", "500", "503", "drop"), seed=11, retry_after=1)
#: The default policy with a shorter exponential step; Retry-After is still honoured in full.
QUICK_RETRY = RetryPolicy(backoff_factor=0.05)


def _copy(small: Path, dest: Path) -> Path:
    shutil.copytree(small / "sandbox", dest / "sandbox")
    return dest


def _ingest_all(home: Path, **serve_options: object) -> None:
    with served(home, **serve_options) as sandbox, patched_env(env_for(home, sandbox.urls)):
        for system, subset in SUBSETS.items():
            run_system(system, resources=subset, retry=QUICK_RETRY)


@pytest.fixture(scope="module")
def reference(small_sandbox_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small sandbox ingested without faults."""
    home = _copy(small_sandbox_home, tmp_path_factory.mktemp("reference"))
    _ingest_all(home)
    return home


def test_faults_with_the_conversion_worker_leave_billing_equal(
    reference: Path, small_sandbox_home: Path, tmp_path: Path
) -> None:
    home = _copy(small_sandbox_home, tmp_path)
    with served(home, faults={"billing": FAULTS}) as sandbox:
        env = {**env_for(home, sandbox.urls), "SOURCES__BILLING__CONVERT_WORKER": "on"}
        with patched_env(env):
            run_system("billing", resources=SUBSETS["billing"], retry=QUICK_RETRY)
    assert snapshot(home, "billing") == snapshot(reference, "billing")


def test_faults_leave_raw_tables_equal(
    reference: Path, small_sandbox_home: Path, tmp_path: Path
) -> None:
    home = _copy(small_sandbox_home, tmp_path)
    faults = {system: FAULTS for system in ("crm", "billing", "erp")}
    _ingest_all(home, faults=faults)
    for system in ("crm", "billing", "erp"):
        want, got = snapshot(reference, system), snapshot(home, system)
        assert want, f"{system}: nothing landed"
        assert got == want, f"{system}: raw tables differ from the fault-free run"


def test_retry_after_is_honoured_and_persistent_429_fails_clearly(
    small_sandbox_home: Path, tmp_path: Path
) -> None:
    home = _copy(small_sandbox_home, tmp_path)
    always_429 = FaultConfig(rate=1.0, kinds=("429",), retry_after=2)
    with (
        served(home, faults={"billing": always_429}) as sandbox,
        patched_env(env_for(home, sandbox.urls)),
    ):
        started = time.monotonic()
        with pytest.raises(IngestError) as err:
            # Two attempts, a negligible exponential backoff: only Retry-After makes it wait.
            run_system(
                "billing",
                retry=RetryPolicy(max_attempts=2, backoff_factor=0.01),
                resources=["products"],
            )
        elapsed = time.monotonic() - started
    assert 2.0 <= elapsed < 8.0
    message = str(err.value)
    assert message.startswith("billing: GET /v1/")
    assert "429" in message


def test_persistent_drops_end_with_an_error_naming_the_endpoint(
    small_sandbox_home: Path, tmp_path: Path
) -> None:
    home = _copy(small_sandbox_home, tmp_path)
    with (
        served(home, faults={"erp": FaultConfig(rate=1.0, kinds=("drop",))}) as sandbox,
        patched_env(env_for(home, sandbox.urls)),
    ):
        started = time.monotonic()
        with pytest.raises(IngestError) as err:
            run_system(
                "erp", retry=RetryPolicy(max_attempts=3, backoff_factor=0.05), resources=["item"]
            )
        assert time.monotonic() - started < 10
    assert str(err.value).startswith("erp: POST /services/rest/query/v1/suiteql failed")


def _ingest_process(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.ingestion.ingest_subset", "billing"],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


@pytest.mark.parametrize("worker", ["auto", "on"])
def test_kill_9_mid_run_then_rerun_equals_an_uninterrupted_run(
    reference: Path, small_sandbox_home: Path, tmp_path: Path, worker: str
) -> None:
    home = _copy(small_sandbox_home, tmp_path)
    slow = FaultConfig(rate=0.5, kinds=("latency",), latency_ms=20)
    with served(home, faults={"billing": slow}) as sandbox:
        # `on`: pages are converted in a worker process (what big listings do)
        env = {**env_for(home, sandbox.urls), "SOURCES__BILLING__CONVERT_WORKER": worker}
        kills = 0
        for delay in (1.5, 3.0):
            proc = _ingest_process(env)
            time.sleep(delay)
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                kills += 1
            proc.wait(timeout=30)
        assert kills, "the ingest process finished before it could be killed"
        with patched_env(env):
            run_system("billing", resources=SUBSETS["billing"])
    assert snapshot(home, "billing") == snapshot(reference, "billing")


@pytest.fixture()
def captured_logs() -> Iterator[list[str]]:
    """Every log record at DEBUG level, from the root logger and dlt's own."""
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(self.format(record))

    handler = Keep(level=logging.DEBUG)
    loggers = [logging.getLogger(), logging.getLogger("dlt")]
    old_levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(handler)
        lg.setLevel(logging.DEBUG)
    try:
        with patched_env({"RUNTIME__LOG_LEVEL": "DEBUG"}):
            yield lines
    finally:
        for lg, level in zip(loggers, old_levels, strict=True):
            lg.removeHandler(handler)
            lg.setLevel(level)


@pytest.mark.parametrize(
    ("system", "setting", "resource"),
    [
        ("crm", "SOURCES__CRM__ACCESS_TOKEN", "product2"),
        ("billing", "SOURCES__BILLING__API_KEY", "products"),
        ("erp", "SOURCES__ERP__ACCESS_TOKEN", "currency"),
    ],
)
def test_wrong_credentials_name_the_system_and_never_leak(
    system: str,
    setting: str,
    resource: str,
    small_sandbox_home: Path,
    tmp_path: Path,
    captured_logs: list[str],
) -> None:
    home = _copy(small_sandbox_home, tmp_path)
    wrong = "sk_test_WR0NG5ECRETvalue42" if system == "billing" else "WR0NG-5ECRET-token-42"
    with served(home) as sandbox:
        env = env_for(home, sandbox.urls)
        good = env[setting]
        with patched_env({**env, setting: wrong}), pytest.raises(IngestError) as err:
            run_system(system, resources=[resource])
        message = str(err.value)
        assert message.startswith(f"{system}: ")
        assert "401" in message and setting in message
        # the same system with the right secret, at DEBUG: the secret never reaches a log
        with patched_env(env):
            run_system(system, resources=[resource])
    assert captured_logs, "nothing was logged: the check below would prove nothing"
    for text in [message, *captured_logs]:
        assert wrong not in text
        assert good not in text
        assert wrong[4:-4] not in text
