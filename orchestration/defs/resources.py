"""Resources shared by every asset: the one closeloop settings object and the dbt CLI."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import dagster as dg
from dagster_dbt import DbtCliResource

from closeloop.settings import HOME_ENV, Settings
from orchestration.project import DBT_PROJECT


class CloseloopResource(dg.ConfigurableResource):
    """closeloop's settings as a Dagster resource.

    `home` comes from `CLOSELOOP_HOME` (a `dg.EnvVar`, resolved when a run starts, never at
    import); everything else (warehouse, source URLs and tokens) is read by the one settings
    object, `closeloop.settings.Settings.from_env`, exactly as the CLI reads it.
    """

    home: str

    def settings(self) -> Settings:
        """The settings for this run, with `CLOSELOOP_HOME` as configured on the resource."""
        env = dict(os.environ)
        env[HOME_ENV] = self.home
        return Settings.from_env(env)


def dbt_executable() -> str:
    """The `dbt` of this environment (the venv's, also when its `bin` is not on PATH)."""
    beside = Path(sys.executable).with_name("dbt")
    return str(beside) if beside.exists() else (shutil.which("dbt") or "dbt")


def resources() -> dict[str, object]:
    """The resources bound to the definitions (`closeloop`, `dbt`)."""
    return {
        "closeloop": CloseloopResource(home=dg.EnvVar(HOME_ENV)),
        "dbt": DbtCliResource(project_dir=DBT_PROJECT, dbt_executable=dbt_executable()),
    }
