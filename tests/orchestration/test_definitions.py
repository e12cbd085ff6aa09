"""The Dagster definitions load and form one graph from the three APIs to the ERP write-back."""

from __future__ import annotations

from typing import Any

import dagster as dg
import pytest

from ingestion.pipelines import DATASETS

WRITEBACK = ["erp_writeback_plan", "erp_writeback_apply", "erp_writeback_verify"]


def _by_name(defs: Any) -> dict[str, dg.AssetKey]:
    return {k.path[-1]: k for k in defs.resolve_asset_graph().get_all_asset_keys()}


def _dbt_nodes(defs: Any, kind: str) -> list[dict[str, Any]]:
    import json

    from orchestration.project import DBT_MANIFEST

    manifest = json.loads(DBT_MANIFEST.read_text())
    table = manifest["sources"] if kind == "source" else manifest["nodes"]
    return [n for n in table.values() if n["resource_type"] == kind]


def test_every_dbt_source_is_a_materializable_raw_table(defs: Any) -> None:
    graph = defs.resolve_asset_graph()
    materializable = {k for k in graph.get_all_asset_keys() if graph.get(k).is_materializable}
    sources = _dbt_nodes(defs, "source")
    assert len(sources) >= 25
    for source in sources:
        key = dg.AssetKey([source["source_name"], source["name"]])
        # the dlt asset and the dbt source are one node, not two islands
        assert key in materializable, f"{key.to_user_string()} is not produced by ingestion"
    for system, dataset in DATASETS.items():
        assert dg.AssetKey([dataset, "quarantine"]) in materializable, system


def test_every_dbt_model_and_the_writeback_are_assets(defs: Any) -> None:
    names = _by_name(defs)
    models = [n["name"] for n in _dbt_nodes(defs, "model")]
    assert {"recon_exceptions", "erp_corrections", "kpi_monthly"} <= set(models)
    missing = [m for m in [*models, *WRITEBACK] if m not in names]
    assert not missing
    graph = defs.resolve_asset_graph()
    # nothing in the graph is an external placeholder: every node can be materialized
    assert all(graph.get(k).is_materializable for k in graph.get_all_asset_keys())


def test_raw_tables_feed_their_staging_models(defs: Any) -> None:
    graph = defs.resolve_asset_graph()
    names = _by_name(defs)
    expected = {
        "stg_billing__invoice_lines": ["raw_billing", "invoice_lines"],
        "stg_billing__invoices": ["raw_billing", "invoices"],
        "stg_crm__accounts": ["raw_crm", "account"],
        "stg_erp__transactions": ["raw_erp", "transaction"],
    }
    for model, raw in expected.items():
        assert dg.AssetKey(raw) in graph.get(names[model]).parent_keys, model
    for model in [n for n in names if n.startswith("stg_")]:
        parents = graph.get(names[model]).parent_keys
        assert any(p.path[0].startswith("raw_") for p in parents), model


def test_erp_corrections_feeds_the_writeback_chain(defs: Any) -> None:
    graph = defs.resolve_asset_graph()
    names = _by_name(defs)
    plan, apply, verify = (names[n] for n in WRITEBACK)
    reread, rebuild = names["erp_writeback_reread"], names["erp_writeback_rebuild"]
    assert graph.get(plan).parent_keys == {names["erp_corrections"]}
    assert graph.get(apply).parent_keys == {plan}
    # verify reads the reconciliation rebuilt from the ERP re-read after the write: steps of
    # the graph, not calls hidden inside verify
    assert graph.get(reread).parent_keys == {apply}
    assert graph.get(rebuild).parent_keys == {reread}
    assert graph.get(verify).parent_keys == {rebuild}
    upstream = dg.AssetSelection.assets(verify).upstream().resolve(graph)
    # all three source systems reach the ERP write-back through one connected graph
    for raw in (["raw_crm", "account"], ["raw_billing", "invoices"], ["raw_erp", "customer"]):
        assert dg.AssetKey(raw) in upstream


def test_checks_retries_freshness_and_groups(defs: Any) -> None:
    graph = defs.resolve_asset_graph()
    names = _by_name(defs)
    checks = {(k.asset_key.path[-1], k.name) for k in graph.asset_check_keys}
    assert ("recon_exceptions", "open_exceptions_under_threshold") in checks
    assert ("ops_integration_health", "sync_latency_within_sla") in checks
    assert ("erp_writeback_apply", "no_rejected_writes") in checks
    assert ("erp_writeback_verify", "corrections_verified") in checks
    # dbt tests on models and on sources are checks, not observations
    assert any(name.startswith(("unique_", "not_null_")) for _, name in checks)
    on_sources = [
        t
        for t in _dbt_nodes(defs, "test")
        if any(d.startswith("source.") for d in t["depends_on"]["nodes"])
    ]
    raw_checks = {k.name for k in graph.asset_check_keys if k.asset_key.path[0].startswith("raw_")}
    assert {t["name"] for t in on_sources} <= raw_checks
    model_tests = [t for t in _dbt_nodes(defs, "test") if t.get("attached_node")]
    assert len(checks) >= len(model_tests)
    invoices = graph.get(dg.AssetKey(["raw_billing", "invoices"]))
    assert invoices.group_name == "raw_billing"
    assert invoices.freshness_policy is not None
    assert graph.get(names["dim_customer"]).group_name == "core"
    assert graph.get(names["dim_customer"]).automation_condition is not None
    for system in ("crm", "billing", "erp"):
        node = defs.get_assets_def(dg.AssetKey([DATASETS[system], "quarantine"])).op
        assert node.retry_policy is not None
        assert node.retry_policy.max_retries >= 2


@pytest.mark.parametrize(
    ("schedule", "job", "writes"),
    [
        ("hourly_incremental", "incremental_cycle", False),
        ("daily_full_reconciliation", "full_reconciliation", True),
    ],
)
def test_schedules_request_their_cycle(defs: Any, schedule: str, job: str, writes: bool) -> None:
    sched = defs.resolve_schedule_def(schedule)
    assert sched.job_name == job
    with dg.build_schedule_context(
        scheduled_execution_time=__import__("datetime").datetime(2026, 11, 2, 5, 0)
    ) as context:
        requests = sched.evaluate_tick(context).run_requests or []
    assert len(requests) == 1
    graph = defs.resolve_asset_graph()
    selected = defs.resolve_job_def(job).asset_layer.selected_asset_keys
    names = {k.path[-1] for k in selected}
    assert {"erp_writeback_plan", "recon_exceptions", "invoices"} <= names
    assert ("erp_writeback_apply" in names) is writes
    assert len(selected) < len(graph.get_all_asset_keys()) or writes
