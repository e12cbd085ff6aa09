"""Shared test setup: no telemetry, ever (there is no network to send it to)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from closeloop.settings import disable_telemetry

disable_telemetry()


@pytest.fixture(scope="session")
def small_sandbox_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A `small` sandbox generated once per test session (read-only for tests: copy to change)."""
    from sandbox.generator import generate
    from sandbox.schema import SandboxPaths

    home = tmp_path_factory.mktemp("small-home")
    generate(SandboxPaths.under(home), seed=42, scale="small")
    yield home
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture()
def sandbox_home(small_sandbox_home: Path, tmp_path: Path) -> Path:
    """A private copy of the session's `small` sandbox that a test may change."""
    home = tmp_path / "home"
    shutil.copytree(small_sandbox_home, home)
    return home
