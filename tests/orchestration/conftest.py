"""Orchestration test setup: the dbt manifest the Dagster definitions load, and served sandboxes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orchestration.loop import SOURCE_ENV, patched_environ
from sandbox.defaults import SANDBOX_DEFAULT_TOKENS
from sandbox.schema import SandboxPaths
from sandbox.server import RunningSandbox, ServeOptions, running


@pytest.fixture(scope="session")
def defs() -> Any:
    """The project's Dagster definitions (parsing the dbt project first if needed)."""
    from orchestration.project import ensure_manifest

    ensure_manifest()
    from orchestration.definitions import defs as definitions

    return definitions


def source_env(home: Path, sandbox: RunningSandbox) -> dict[str, str]:
    """The environment pointing closeloop, dlt and the resources at a served sandbox."""
    env = {"CLOSELOOP_HOME": str(home), "CLOSELOOP_WAREHOUSE": "duckdb"}
    for system, (url_env, token_env) in SOURCE_ENV.items():
        env[url_env] = str(sandbox.urls[system])
        env[token_env] = SANDBOX_DEFAULT_TOKENS[system]
    return env


@pytest.fixture()
def served_home(sandbox_home: Path) -> Iterator[tuple[Path, RunningSandbox]]:
    """A private small sandbox served on free ports, with the environment pointing at it."""
    options = ServeOptions(
        ports={"crm": 0, "billing": 0, "erp": 0}, tokens=dict(SANDBOX_DEFAULT_TOKENS)
    )
    with (
        running(SandboxPaths.under(sandbox_home), options) as sandbox,
        patched_environ(source_env(sandbox_home, sandbox)),
    ):
        yield sandbox_home, sandbox
