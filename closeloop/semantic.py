"""Ask the semantic layer (MetricFlow over dbt_project/models/semantic) from Python or the CLI.

`mf query` does the same from `dbt_project/` (docs/bi.md); this runs MetricFlow's Python API on
closeloop's settings (the warehouse under the home) and on any dbt target path, so tests and
`closeloop metrics query` never read another build's `target/semantic_manifest.json`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from closeloop.settings import Settings
from transform import DBT_PROJECT_DIR, dbt_env, patched_env, run_dbt

#: The artifact `dbt parse` (and every dbt command) writes for MetricFlow.
SEMANTIC_MANIFEST = "semantic_manifest.json"


@dataclass(frozen=True)
class MetricTable:
    """A MetricFlow answer: column names (`metric_time__month`, `mrr`, ...) and rows."""

    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    sql: str

    def records(self) -> list[dict[str, Any]]:
        """The rows as dicts keyed by column name."""
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


def semantic_manifest(settings: Settings, target_path: Path | None = None) -> Path:
    """The semantic manifest under `target_path` (dbt's default target), parsed first if missing."""
    target = target_path or DBT_PROJECT_DIR / "target"
    path = target / SEMANTIC_MANIFEST
    if not path.is_file():
        outcome = run_dbt(["parse"], settings, target_path=target)
        if not outcome.success or not path.is_file():
            raise RuntimeError(
                f"dbt parse wrote no {path}: {outcome.exception or outcome.failures}"
            )
    return path


def query_metrics(
    metrics: Sequence[str],
    group_by: Sequence[str] = (),
    settings: Settings | None = None,
    *,
    target_path: Path | None = None,
    where: Sequence[str] = (),
    order_by: Sequence[str] = (),
    limit: int | None = None,
) -> MetricTable:
    """Run one MetricFlow query against the warehouse dbt's profile points at.

    Args:
        metrics: metric names (`mrr`, `mrr_usd`, ...; dbt_project/models/semantic).
        group_by: dimensions (`metric_time__month`, `kpi_monthly__currency_code`, ...).
        settings: closeloop settings (read from the environment when omitted).
        target_path: the dbt target path holding semantic_manifest.json (default dbt's).
        where: MetricFlow where filters (`{{ Dimension('kpi_monthly__currency_code') }} = 'EUR'`).
        order_by: names to order by, `-name` for descending.
        limit: at most this many rows.

    Returns:
        The answer, with the SQL MetricFlow ran.
    """
    # MetricFlow and dbt are heavy to import: only when asked
    from dbt.adapters.factory import get_adapter_by_type
    from dbt_metricflow.cli.dbt_connectors.adapter_backed_client import AdapterBackedSqlClient
    from dbt_metricflow.cli.dbt_connectors.dbt_config_accessor import dbtProjectMetadata
    from metricflow.engine.metricflow_engine import MetricFlowEngine, MetricFlowQueryRequest
    from metricflow_semantics.model.dbt_manifest_parser import (
        parse_manifest_from_dbt_generated_manifest,
    )
    from metricflow_semantics.model.semantic_manifest_lookup import SemanticManifestLookup

    settings = settings or Settings.from_env()
    manifest_path = semantic_manifest(settings, target_path)
    manifest = parse_manifest_from_dbt_generated_manifest(
        manifest_json_string=manifest_path.read_text(encoding="utf-8")
    )
    # profiles.yml reads the warehouse path from the environment when the profile is loaded
    with patched_env(dbt_env(settings)):
        project = dbtProjectMetadata.load_from_paths(
            profiles_path=DBT_PROJECT_DIR, project_path=DBT_PROJECT_DIR
        )
        adapter = get_adapter_by_type(project.profile.credentials.type)
        engine = MetricFlowEngine(
            semantic_manifest_lookup=SemanticManifestLookup(manifest),
            sql_client=AdapterBackedSqlClient(adapter),
        )
        request = MetricFlowQueryRequest.create(
            metric_names=list(metrics),
            group_by_names=list(group_by) or None,
            where_constraints=list(where) or None,
            order_by_names=list(order_by) or None,
            limit=limit,
        )
        # MetricFlow's own result table holds floats; run its SQL through the adapter instead,
        # whose rows keep the warehouse's exact decimals (money stays exact)
        sql = engine.explain(request).sql_statement.sql
        with adapter.connection_named("closeloop_metrics_query"):
            _, table = adapter.execute(sql=sql, auto_begin=True, fetch=True)
    return MetricTable(
        columns=tuple(table.column_names),
        rows=tuple(tuple(row.values()) for row in table.rows),
        sql=sql,
    )
