"""Where the orchestrated project lives: the dbt project, its manifest and Dagster's home."""

from __future__ import annotations

import logging
from pathlib import Path

from dagster_dbt import DbtProject

from closeloop.settings import Settings
from transform import DBT_PROJECT_DIR

log = logging.getLogger(__name__)

# The dbt project the Dagster assets are built from: `DBT_PROJECT_DIR` (the `transform` layer).

#: Dagster keeps its own dbt artifacts apart from `dbt_project/target`, which the CLI and the
#: dbt tests rewrite at any moment.
DBT_TARGET_PATH = Path("target") / "dagster"
DBT_MANIFEST = DBT_PROJECT_DIR / DBT_TARGET_PATH / "manifest.json"
#: The dbt project as dagster-dbt sees it (under `dagster dev` it re-parses on start).
DBT_PROJECT = DbtProject(project_dir=DBT_PROJECT_DIR, target_path=DBT_TARGET_PATH)

#: Dagster's instance settings: no telemetry (there is no network) and one run at a time,
#: because DuckDB allows a single writing process.
DAGSTER_YAML = """\
telemetry:
  enabled: false
run_queue:
  max_concurrent_runs: 1
nux:
  enabled: false
"""


#: What a parse reads: a change to any of these makes the manifest stale.
_PROJECT_INPUTS = ("models", "macros", "tests", "seeds", "analyses")


def manifest_is_stale() -> bool:
    """True when a model, macro, test or project file changed after the manifest was written.

    A stale manifest makes the assets disagree with what `dbt build` runs (a new test is an
    event Dagster cannot place).
    """
    if not DBT_MANIFEST.exists():
        return True
    built = DBT_MANIFEST.stat().st_mtime
    files = [DBT_PROJECT_DIR / "dbt_project.yml", DBT_PROJECT_DIR / "profiles.yml"]
    for folder in _PROJECT_INPUTS:
        files.extend(p for p in (DBT_PROJECT_DIR / folder).rglob("*") if p.is_file())
    return any(f.exists() and f.stat().st_mtime > built for f in files)


def ensure_manifest(settings: Settings | None = None, force: bool = False) -> Path:
    """Parse the dbt project into Dagster's target path (what `@dbt_assets` loads).

    Args:
        settings: closeloop settings (read from the environment when omitted).
        force: parse even when the manifest is newer than every project file.

    Returns:
        The manifest's path.

    Raises:
        RuntimeError: when dbt cannot parse the project.
    """
    if not force and DBT_MANIFEST.exists() and not manifest_is_stale():
        return DBT_MANIFEST
    from transform import run_dbt

    outcome = run_dbt(["parse"], settings, target_path=DBT_PROJECT_DIR / DBT_TARGET_PATH)
    if not outcome.success or not DBT_MANIFEST.exists():
        raise RuntimeError(f"dbt parse failed: {outcome.exception or outcome.failures}")
    return DBT_MANIFEST


def prepare_dagster_home(settings: Settings) -> Path:
    """Create Dagster's home under `CLOSELOOP_HOME` with the project's `dagster.yaml`.

    Returns:
        The directory to export as `DAGSTER_HOME`.
    """
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists() or config.read_text() != DAGSTER_YAML:
        config.write_text(DAGSTER_YAML)
    return home
