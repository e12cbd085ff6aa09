"""dbt models as Dagster assets (dagster-dbt), dbt tests as asset checks, grouped by layer.

Sources keep dagster-dbt's default keys `[<source>, <table>]`, which are the raw tables' keys,
so staging hangs off the ingestion assets. Models follow their upstreams automatically
(`AutomationCondition.eager()`): when the billing sensor lands new events, the models built on
them are brought up to date.
"""

import shutil
from collections.abc import Iterator, Mapping
from typing import Any

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    dbt_assets,
    get_asset_key_for_model,
)

from closeloop.publish import publish_after_build
from orchestration.defs.resources import CloseloopResource
from orchestration.project import DBT_MANIFEST, DBT_PROJECT, DBT_PROJECT_DIR, DBT_TARGET_PATH
from transform import dbt_env, patched_env

if not DBT_MANIFEST.exists():
    # `DbtProject.prepare_if_dev()` parses only under `dagster dev`; elsewhere say what to do.
    DBT_PROJECT.prepare_if_dev()
if not DBT_MANIFEST.exists():
    raise FileNotFoundError(
        f"no dbt manifest at {DBT_MANIFEST}: run `closeloop run`, `closeloop ui`, or "
        "`python -c 'from orchestration.project import ensure_manifest; ensure_manifest()'`"
    )


class LayeredDbtTranslator(DagsterDbtTranslator):
    """Groups models by their folder (staging, core, recon, ...) and makes them follow upstream."""

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        """The model's layer: the first folder under `models/`."""
        fqn = dbt_resource_props.get("fqn") or []
        if dbt_resource_props.get("resource_type") == "model" and len(fqn) > 2:
            return str(fqn[1])
        return super().get_group_name(dbt_resource_props)

    def get_automation_condition(
        self, dbt_resource_props: Mapping[str, Any]
    ) -> dg.AutomationCondition | None:
        """Models materialize when their upstreams changed (and nothing upstream is running)."""
        if dbt_resource_props.get("resource_type") == "model":
            return dg.AutomationCondition.eager()
        return None


#: dbt's advice: unit tests belong in CI (`make test` runs them), not in production builds,
#: where they would bind to whatever columns a young landing happens to have.
BUILD_ARGS = ["build", "--exclude-resource-type", "unit_test"]

TRANSLATOR = LayeredDbtTranslator(
    settings=DagsterDbtTranslatorSettings(enable_source_tests_as_checks=True)
)


@dbt_assets(
    manifest=DBT_MANIFEST,
    project=DBT_PROJECT,
    dagster_dbt_translator=TRANSLATOR,
    name="dbt_models",
    op_tags={"closeloop/step": "transform"},
)
def dbt_models(
    context: dg.AssetExecutionContext, dbt: DbtCliResource, closeloop: CloseloopResource
) -> Iterator[Any]:
    """`dbt build` of the selected models and their tests, against the configured warehouse."""
    # each run's artifacts under Dagster's own target path, apart from the dbt CLI's
    target = DBT_PROJECT_DIR / DBT_TARGET_PATH / f"run-{context.run_id}"
    # profiles.yml reads the warehouse path and target from the dbt process's environment,
    # which is copied when the process starts: set them for that moment only, so one run's
    # warehouse never leaks into the next thing this process does
    with patched_env(dbt_env(closeloop.settings())):
        invocation = dbt.cli(BUILD_ARGS, context=context, target_path=target)
    yield from invocation.stream()
    # a read-only copy for BI, which cannot open the warehouse while the pipeline writes it
    # (docs/bi.md); a failed copy is logged and BI keeps the previous one
    published = publish_after_build(closeloop.settings())
    if published is not None:
        context.log.info(f"read-only copy for BI published at {published.path}")
    # an hourly schedule would pile up megabytes a run; a failed run's compiled SQL is kept,
    # since the error message points into it
    shutil.rmtree(target, ignore_errors=True)


def model_key(name: str) -> dg.AssetKey:
    """The asset key of a dbt model by name (`erp_corrections` -> `writeback/erp_corrections`)."""
    return get_asset_key_for_model([dbt_models], name)
