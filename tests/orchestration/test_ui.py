"""`closeloop ui` end to end: the asset graph in headless Chromium, a run launched over GraphQL."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from closeloop.settings import TELEMETRY_OFF

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
LOCATION = "orchestration.definitions"
STARTUP_SECONDS = 240
RUN_SECONDS = 240

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="Debian's chromium is not installed (apt-get install -y chromium; "
        "`make setup` installs it for tests)",
    ),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _graphql(base: str, query: str, variables: dict | None = None) -> dict:
    response = httpx.post(
        f"{base}/graphql", json={"query": query, "variables": variables or {}}, timeout=30
    )
    response.raise_for_status()
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


@pytest.fixture()
def ui(sandbox_home: Path, tmp_path: Path) -> Iterator[str]:
    """`closeloop ui` on a free port over a private small sandbox; stopped by SIGTERM."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOURCES__")}
    env.update(TELEMETRY_OFF)
    env["CLOSELOOP_HOME"] = str(sandbox_home)
    log = (tmp_path / "ui.log").open("wb")
    closeloop = Path(sys.executable).with_name("closeloop")
    proc = subprocess.Popen(
        [str(closeloop), "ui", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            assert proc.poll() is None, (tmp_path / "ui.log").read_text()[-3000:]
            try:
                if httpx.get(f"{base}/server_info", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the Dagster UI did not come up"
            time.sleep(1)
        yield base
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            code = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise
        finally:
            log.close()
        assert code == 0, (tmp_path / "ui.log").read_text()[-3000:]
        # `closeloop ui` took dagster dev (webserver, daemon, code server) down with it
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"{base}/server_info", timeout=2)


def _chromium(url: str, profile: Path, *args: str) -> str:
    result = subprocess.run(
        [
            str(CHROMIUM),
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            # the whole writeback graph on screen: the graph renders only what is visible
            "--window-size=2560,2400",
            "--virtual-time-budget=30000",
            *args,
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return result.stdout


def test_ui_shows_the_graph_and_materializes(ui: str, tmp_path: Path) -> None:
    # the community pop-up would cover the page on a first visit
    assert _graphql(ui, "mutation { setNuxSeen }")["setNuxSeen"] is True
    profile = tmp_path / "chromium"

    lineage = _chromium(f"{ui}/asset-groups", profile, "--dump-dom")
    for group in ("raw_crm", "raw_billing", "raw_erp", "staging", "core", "recon", "writeback"):
        assert group in lineage, f"group {group} not in the global lineage"
    writeback = _chromium(
        f"{ui}/locations/{LOCATION}/asset-groups/writeback", profile, "--dump-dom"
    )
    for name in (
        "erp_corrections",
        "erp_writeback_plan",
        "erp_writeback_apply",
        "erp_writeback_verify",
        "recon_exceptions",
    ):
        assert name in writeback, f"{name} not on the writeback graph"
    shot = tmp_path / "writeback.png"
    _chromium(f"{ui}/locations/{LOCATION}/asset-groups/writeback", profile, f"--screenshot={shot}")
    assert shot.stat().st_size > 20_000

    launched = _graphql(
        ui,
        """mutation($p: ExecutionParams!) { launchPipelineExecution(executionParams: $p) {
             __typename ... on LaunchRunSuccess { run { runId } }
             ... on PythonError { message } ... on InvalidSubsetError { message } } }""",
        {
            "p": {
                "selector": {
                    "repositoryLocationName": LOCATION,
                    "repositoryName": "__repository__",
                    "pipelineName": "__ASSET_JOB",
                    "assetSelection": [{"path": ["raw_erp", "subsidiary"]}],
                    "assetCheckSelection": [],
                },
                "runConfigData": {},
            }
        },
    )["launchPipelineExecution"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]
    deadline = time.monotonic() + RUN_SECONDS
    status = ""
    while time.monotonic() < deadline:
        status = _graphql(
            ui,
            "query($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }",
            {"id": run_id},
        )["runOrError"]["status"]
        if status in ("SUCCESS", "FAILURE", "CANCELED"):
            break
        time.sleep(2)
    assert status == "SUCCESS"
    latest = _graphql(
        ui,
        """{ assetOrError(assetKey: {path: ["raw_erp", "subsidiary"]}) { ... on Asset {
             assetMaterializations(limit: 1) { runId metadataEntries { label } } } } }""",
    )["assetOrError"]["assetMaterializations"]
    assert latest[0]["runId"] == run_id
    assert "rows_loaded" in {e["label"] for e in latest[0]["metadataEntries"]}
