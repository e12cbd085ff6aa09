"""Jobs, schedules and the billing-events sensor that run the loop without an operator."""

import dagster as dg
import httpx

from orchestration.defs.automation.billing_events import newest_billing_event
from orchestration.defs.resources import CloseloopResource
from orchestration.defs.writeback.assets import PLAN_KEY, WRITE_KEYS

#: The write to the ERP and what follows it (re-read, rebuild, verify).
_WRITES = dg.AssetSelection.assets(*WRITE_KEYS)

#: Ingest every system, build every model, plan the corrections (no ERP write).
incremental_cycle = dg.define_asset_job(
    "incremental_cycle",
    selection=dg.AssetSelection.all() - _WRITES,
    description="Hourly: ingest (incremental), dbt build, plan the write-back.",
)
#: Everything, including the write to the ERP and its verification.
full_reconciliation = dg.define_asset_job(
    "full_reconciliation",
    selection=dg.AssetSelection.all(),
    description="Daily: ingest, dbt build, plan, apply the allowed corrections, verify.",
)
#: The billing tables and everything built on them, up to the plan.
billing_refresh = dg.define_asset_job(
    "billing_refresh",
    selection=(dg.AssetSelection.groups("raw_billing").downstream() - _WRITES),
    description="On new billing events: ingest billing, rebuild what depends on it, re-plan.",
)

hourly_incremental = dg.ScheduleDefinition(
    name="hourly_incremental",
    job=incremental_cycle,
    cron_schedule="0 * * * *",
    execution_timezone="UTC",
)
daily_full_reconciliation = dg.ScheduleDefinition(
    name="daily_full_reconciliation",
    job=full_reconciliation,
    cron_schedule="0 5 * * *",
    execution_timezone="UTC",
)


@dg.sensor(
    job=billing_refresh,
    minimum_interval_seconds=60,
    description="Polls the billing API's /v1/events; new events trigger the billing refresh.",
)
def billing_events_sensor(
    context: dg.SensorEvaluationContext, closeloop: CloseloopResource
) -> dg.SensorResult | dg.SkipReason:
    """Fire once per new newest billing event; skip while nothing new arrived."""
    try:
        newest = newest_billing_event(closeloop.settings())
    except (ValueError, httpx.HTTPError) as exc:
        return dg.SkipReason(f"cannot read billing events: {exc}")
    if newest is None:
        return dg.SkipReason("the billing account has no events yet")
    if context.cursor == newest.cursor:
        return dg.SkipReason(f"no billing events since {newest.id}")
    return dg.SensorResult(
        run_requests=[
            dg.RunRequest(run_key=newest.cursor, tags={"closeloop/billing_event": newest.id})
        ],
        cursor=newest.cursor,
    )


JOBS = [incremental_cycle, full_reconciliation, billing_refresh]
SCHEDULES = [hourly_incremental, daily_full_reconciliation]
SENSORS = [billing_events_sensor]
__all__ = ["JOBS", "PLAN_KEY", "SCHEDULES", "SENSORS"]
