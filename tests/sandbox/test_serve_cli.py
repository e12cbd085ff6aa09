"""`closeloop sandbox serve` as users run it: a process, three ports, auth, TLS, clean stop."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import requests

from sandbox.defaults import SANDBOX_DEFAULT_TOKENS

CLOSELOOP = [sys.executable, "-m", "closeloop.cli"]


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _start(
    home: Path, *extra: str, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen, dict]:
    crm, billing, erp = _free_ports(3)
    proc = subprocess.Popen(
        [
            *CLOSELOOP,
            "sandbox",
            "serve",
            "--crm-port",
            str(crm),
            "--billing-port",
            str(billing),
            "--erp-port",
            str(erp),
            *extra,
        ],
        env={**os.environ, "CLOSELOOP_HOME": str(home), **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    urls: dict[str, str] = {}
    deadline = time.monotonic() + 60
    while len(urls) < 3:
        line = proc.stdout.readline()
        if not line:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"serve did not start: {proc.stderr.read()}")
            continue
        name, _, url = line.strip().partition(" ")
        if name in ("crm", "billing", "erp"):
            urls[name] = url.strip()
    return proc, urls


def _stop(proc: subprocess.Popen) -> float:
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=20)
    return time.monotonic() - started


def test_serve_answers_on_three_ports_with_auth_and_stops_on_sigterm(sandbox_home: Path) -> None:
    proc, urls = _start(sandbox_home)
    try:
        assert urls["crm"].endswith(str(urls["crm"]).rsplit(":", 1)[1])
        crm = httpx.get(
            f"{urls['crm']}/services/data/v61.0/query",
            params={"q": "SELECT Id, Name FROM Account LIMIT 2"},
            headers={"Authorization": f"Bearer {SANDBOX_DEFAULT_TOKENS['crm']}"},
        )
        assert crm.status_code == 200 and len(crm.json()["records"]) == 2
        bad = httpx.get(
            f"{urls['crm']}/services/data/v61.0/query",
            params={"q": "SELECT Id FROM Account"},
            headers={"Authorization": "Bearer wrong"},
        )
        assert bad.status_code == 401 and bad.json()[0]["errorCode"] == "INVALID_SESSION_ID"

        billing = httpx.get(
            f"{urls['billing']}/v1/customers",
            params={"limit": 3},
            headers={"Authorization": f"Bearer {SANDBOX_DEFAULT_TOKENS['billing']}"},
        )
        assert billing.status_code == 200 and len(billing.json()["data"]) == 3

        erp = httpx.post(
            f"{urls['erp']}/services/rest/query/v1/suiteql",
            params={"limit": 5},
            json={"q": "SELECT id, symbol FROM currency"},
            headers={
                "Authorization": f"Bearer {SANDBOX_DEFAULT_TOKENS['erp']}",
                "Prefer": "transient",
            },
        )
        assert erp.status_code == 200
        assert {item["symbol"] for item in erp.json()["items"]} >= {"USD", "EUR", "GBP", "JPY"}
    finally:
        assert _stop(proc) < 15


def test_serve_uses_the_configured_tokens(sandbox_home: Path) -> None:
    proc, urls = _start(sandbox_home, env={"SOURCES__BILLING__API_KEY": "sk_test_custom_key_42"})
    try:
        ok = httpx.get(
            f"{urls['billing']}/v1/products",
            headers={"Authorization": "Bearer sk_test_custom_key_42"},
        )
        assert ok.status_code == 200
        default = httpx.get(
            f"{urls['billing']}/v1/products",
            headers={"Authorization": f"Bearer {SANDBOX_DEFAULT_TOKENS['billing']}"},
        )
        assert default.status_code == 401
        assert "sk_test_custom_key_42" not in default.text
    finally:
        _stop(proc)
    output = proc.stdout.read() + proc.stderr.read()
    assert "sk_test_custom_key_42" not in output


def test_serve_tls_with_generated_ca(sandbox_home: Path) -> None:
    proc, urls = _start(sandbox_home, "--tls")
    try:
        assert all(u.startswith("https://") for u in urls.values())
        ca = sandbox_home / "sandbox" / "tls" / "ca.pem"
        assert ca.exists()
        resp = requests.get(
            f"{urls['crm']}/services/data/",
            verify=str(ca),
            headers={"Authorization": f"Bearer {SANDBOX_DEFAULT_TOKENS['crm']}"},
        )
        assert resp.status_code == 200
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(f"{urls['crm']}/services/data/", verify=True)
    finally:
        _stop(proc)


def test_serve_without_a_sandbox_is_a_clear_error(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            *CLOSELOOP,
            "sandbox",
            "serve",
            "--crm-port",
            "0",
            "--billing-port",
            "0",
            "--erp-port",
            "0",
        ],
        env={**os.environ, "CLOSELOOP_HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1
    assert "closeloop sandbox generate" in proc.stderr


def test_serve_on_a_taken_port_names_it(sandbox_home: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run(
            [
                *CLOSELOOP,
                "sandbox",
                "serve",
                "--crm-port",
                str(port),
                "--billing-port",
                "0",
                "--erp-port",
                "0",
            ],
            env={**os.environ, "CLOSELOOP_HOME": str(sandbox_home)},
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 1
    assert f"127.0.0.1:{port}" in proc.stderr


def test_generate_info_and_peek_commands(tmp_path: Path) -> None:
    env = {**os.environ, "CLOSELOOP_HOME": str(tmp_path)}
    gen = subprocess.run(
        [*CLOSELOOP, "sandbox", "generate", "--scale", "small", "--seed", "3"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert gen.returncode == 0, gen.stderr
    assert "invoices" in gen.stdout
    info = subprocess.run(
        [*CLOSELOOP, "sandbox", "info"], env=env, capture_output=True, text=True, timeout=60
    )
    assert info.returncode == 0 and "invoice_missing_in_erp" in info.stdout
    peek = subprocess.run(
        [*CLOSELOOP, "sandbox", "peek", "--rows", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert peek.returncode == 0, peek.stderr
    assert '"attributes"' in peek.stdout and '"object": "list"' in peek.stdout
    assert '"hasMore"' in peek.stdout
    bad = subprocess.run(
        [*CLOSELOOP, "sandbox", "generate", "--scale", "huge"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and "unknown scale" in bad.stderr
    shutil.rmtree(tmp_path / "sandbox")
