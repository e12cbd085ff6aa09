"""`closeloop run` / `closeloop ui` refuse a half-configured set of sources before starting."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from closeloop.cli import app


@pytest.mark.parametrize("command", ["run", "ui"])
def test_half_configured_sources_are_refused(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLOSELOOP_HOME", str(tmp_path))
    for name in ("CRM", "BILLING", "ERP"):
        monkeypatch.delenv(f"SOURCES__{name}__BASE_URL", raising=False)
    monkeypatch.setenv("SOURCES__BILLING__BASE_URL", "https://api.stripe.com")
    result = CliRunner().invoke(app, [command])
    assert result.exit_code == 2
    assert "only billing has a SOURCES__*__BASE_URL" in " ".join(result.output.split())
    # nothing was started or generated
    assert not (tmp_path / "sandbox").exists()
    assert not (tmp_path / "dagster").exists()
