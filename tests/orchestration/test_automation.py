"""The billing-events sensor against a served sandbox: fires on new events, not otherwise."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg

from orchestration.defs.resources import CloseloopResource
from sandbox.server import RunningSandbox


def _tick(defs: Any, home: Path, cursor: str | None) -> dg.SensorResult | Any:
    sensor = defs.resolve_sensor_def("billing_events_sensor")
    with dg.build_sensor_context(
        cursor=cursor,
        resources={"closeloop": CloseloopResource(home=str(home))},
        definitions=defs,
    ) as context:
        return sensor.evaluate_tick(context)


def test_billing_sensor_fires_on_new_events_only(
    defs: Any, served_home: tuple[Path, RunningSandbox]
) -> None:
    from sandbox.generator import advance
    from sandbox.schema import SandboxPaths

    home, _ = served_home
    first = _tick(defs, home, None)
    assert len(first.run_requests) == 1
    assert first.run_requests[0].tags["closeloop/billing_event"].startswith("evt_")
    cursor = first.cursor
    assert cursor

    again = _tick(defs, home, cursor)
    assert not again.run_requests
    assert "no billing events since" in (again.skip_message or "")

    # the simulated company moves on a day: Stripe records new events
    advance(SandboxPaths.under(home), days=1)
    later = _tick(defs, home, cursor)
    assert len(later.run_requests) == 1
    assert later.cursor and later.cursor > cursor
    assert later.run_requests[0].run_key == later.cursor
    assert later.run_requests[0].job_name in (None, "billing_refresh")


def test_billing_sensor_skips_when_billing_unreachable(defs: Any, tmp_path: Path) -> None:
    from orchestration.loop import patched_environ

    with patched_environ({"SOURCES__BILLING__BASE_URL": "http://127.0.0.1:9"}):
        result = _tick(defs, tmp_path, None)
    assert not result.run_requests
    assert "cannot read billing events" in (result.skip_message or "")


def test_billing_refresh_job_covers_billing_and_downstream_only(defs: Any) -> None:
    job = defs.resolve_job_def("billing_refresh")
    names = {k.to_user_string() for k in job.asset_layer.selected_asset_keys}
    assert "raw_billing/invoices" in names
    assert "raw_crm/account" not in names
    assert "erp_writeback_plan" in names
    assert "erp_writeback_apply" not in names
    assert any(n.endswith("stg_billing__invoices") for n in names)
