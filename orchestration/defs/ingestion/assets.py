"""dlt resources as Dagster assets: one asset per raw table, keyed `[raw_<system>, <table>]`.

The keys equal dbt's source keys (`source('raw_billing', 'invoices')` is
`AssetKey(["raw_billing", "invoices"])`), so the raw tables join the dbt graph by convention.

Each system is one multi-asset. It is not the stock `@dlt_assets` body because a resource here
lands more than one table (Stripe invoices bring `invoice_lines`, subscriptions bring
`subscription_items`, every resource can fill `quarantine`) and the run goes through
`ingestion.pipelines.run_system`, which first finishes a load an interrupted run left behind
(dagster-dlt's runner drops it) and turns failures into errors that name the endpoint. The specs
still come from dagster-dlt's translator over the real dlt source.
"""

import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any, cast

import dagster as dg
from dagster_dlt import DagsterDltTranslator
from dagster_dlt.translator import DltResourceTranslatorData

from ingestion.edge import QUARANTINE_TABLE
from ingestion.pipelines import DATASETS, SYSTEMS, IngestError, run_system
from orchestration.defs.resources import CloseloopResource

#: Tables a resource lands besides its own, by system: child table -> parent resource.
CHILD_TABLES: dict[str, dict[str, str]] = {
    "crm": {},
    "billing": {"subscription_items": "subscriptions", "invoice_lines": "invoices"},
    "erp": {},
}
#: What each system is, for the asset descriptions and the UI's kind badges.
VENDORS = {"crm": "salesforce", "billing": "stripe", "erp": "netsuite"}
#: Transient API trouble (429, 5xx, dropped connections) outlasting dlt's own retries is
#: retried by Dagster a few minutes later; configuration errors are not (see `_fail`).
INGEST_RETRY = dg.RetryPolicy(max_retries=3, delay=30, backoff=dg.Backoff.EXPONENTIAL)
#: Freshness of the raw tables: the cycle is hourly, so two hours without a load warns and a
#: day fails (Dagster evaluates the policy itself; no sensor or check job needed).
RAW_FRESHNESS = dg.FreshnessPolicy.time_window(
    fail_window=timedelta(hours=24), warn_window=timedelta(hours=2)
)

# Placeholders so the sources can be inspected for their resources without any settings:
# building a source makes no request.
_INSPECT_ARGS: dict[str, dict[str, str]] = {
    "crm": {"base_url": "http://inspect.invalid", "access_token": "inspect"},
    "billing": {"base_url": "http://inspect.invalid", "api_key": "inspect"},
    "erp": {"base_url": "http://inspect.invalid", "access_token": "inspect"},
}


def raw_key(system: str, table: str) -> dg.AssetKey:
    """The asset key of a raw table: dbt's source key `[raw_<system>, <table>]`."""
    return dg.AssetKey([DATASETS[system], table])


class RawTableTranslator(DagsterDltTranslator):
    """Keys dlt resources like dbt sources, grouped per raw dataset, with the vendor as a kind."""

    def __init__(self, system: str) -> None:
        self.system = system

    def get_asset_spec(self, data: DltResourceTranslatorData) -> dg.AssetSpec:
        """One raw table's spec (no upstream: the vendor API is outside the graph)."""
        table = data.resource.name
        return self.table_spec(table, f"{self.system} `{table}` as dlt lands it, untouched.")

    def table_spec(self, table: str, description: str) -> dg.AssetSpec:
        """The spec of any raw table of this system (also the ones a resource lands on the side)."""
        return dg.AssetSpec(
            key=raw_key(self.system, table),
            group_name=DATASETS[self.system],
            description=description,
            kinds={"dlt", VENDORS[self.system]},
            tags={"closeloop/layer": "raw", "closeloop/system": self.system},
            metadata={"dagster/table_name": f"{DATASETS[self.system]}.{table}"},
            freshness_policy=RAW_FRESHNESS,
        )


def _inspect_source(system: str) -> Any:
    from ingestion.sources.billing import billing_source
    from ingestion.sources.crm import crm_source
    from ingestion.sources.erp import erp_source

    # dlt's decorator hides the call signature from type checkers
    factories = {"crm": crm_source, "billing": billing_source, "erp": erp_source}
    factory = cast(Callable[..., Any], factories[system])
    return factory(**_INSPECT_ARGS[system])


def system_specs(system: str, source: Any) -> list[dg.AssetSpec]:
    """Every raw table of one system: its dlt resources, their side tables and `quarantine`."""
    translator = RawTableTranslator(system)
    specs = [
        translator.get_asset_spec(DltResourceTranslatorData(resource=resource, pipeline=None))
        for resource in source.resources.values()
    ]
    for child, parent in CHILD_TABLES[system].items():
        specs.append(translator.table_spec(child, f"{system} `{child}`, landed with `{parent}`."))
    specs.append(
        translator.table_spec(
            QUARANTINE_TABLE,
            f"{system} records that could not land faithfully, with the reason (any resource).",
        )
    )
    return specs


def _resources_for(system: str, tables: set[str], all_resources: list[str]) -> list[str] | None:
    """The dlt resources to run for the selected tables (None: all of them)."""
    if QUARANTINE_TABLE in tables:
        return None
    wanted = {CHILD_TABLES[system].get(t, t) for t in tables}
    if wanted >= set(all_resources):
        return None
    return [r for r in all_resources if r in wanted]


_CLIENT_ERROR = re.compile(r"HTTP 40[0134]\b")


def _fail(exc: IngestError) -> Exception:
    text = str(exc)
    # a wrong key or a missing setting does not get better by retrying
    permanent = "check SOURCES__" in text or "missing setting" in text or _CLIENT_ERROR.search(text)
    if permanent:
        return dg.Failure(description=text, allow_retries=False)
    return exc


def build_ingestion_asset(system: str) -> dg.AssetsDefinition:
    """The multi-asset landing one system's raw tables (subsettable per table)."""
    source = _inspect_source(system)
    specs = system_specs(system, source)
    all_resources = list(source.resources)

    @dg.multi_asset(
        name=f"ingest_{system}",
        specs=specs,
        can_subset=True,
        retry_policy=INGEST_RETRY,
        op_tags={"closeloop/step": "ingest"},
        description=f"Land {system} in {DATASETS[system]} with dlt (incremental).",
    )
    def _ingest(
        context: dg.AssetExecutionContext, closeloop: CloseloopResource
    ) -> Iterator[dg.MaterializeResult]:
        selected = list(context.selected_asset_keys)
        tables = {k.path[-1] for k in selected}
        resources = _resources_for(system, tables, all_resources)
        context.log.info("ingesting %s: %s", system, ", ".join(resources or ["all tables"]))
        try:
            summary = run_system(system, closeloop.settings(), resources=resources)
        except IngestError as exc:
            raise _fail(exc) from None
        # what the source would not show us (a permission the role lacks, ...): said once,
        # and kept on every table's materialization so the run summary and the UI show it
        warnings = [str(w) for w in summary.warnings]
        for warning in warnings:
            context.log.warning(warning)
        by_table = {t.table: t for t in summary.tables}
        for key in sorted(selected, key=lambda k: k.to_user_string()):
            table = key.path[-1]
            figures = by_table.get(table)
            yield dg.MaterializeResult(
                asset_key=key,
                metadata={
                    "rows_loaded": figures.rows_loaded if figures else 0,
                    "rows_rejected": figures.rows_rejected if figures else 0,
                    "rows_deleted": figures.rows_deleted if figures else 0,
                    "seconds": round(figures.seconds, 3) if figures else 0.0,
                    "system_seconds": round(summary.seconds, 3),
                    "resumed_interrupted_load": summary.resumed_pending,
                    "source_warnings": warnings,
                },
            )

    return _ingest


INGESTION_ASSETS = [build_ingestion_asset(system) for system in SYSTEMS]
RAW_KEYS = [key for asset in INGESTION_ASSETS for key in asset.keys]
