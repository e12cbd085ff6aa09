"""Automation: the hourly and daily jobs, their schedules and the billing-events sensor."""

import dagster as dg

from orchestration.defs.automation.jobs import JOBS, SCHEDULES, SENSORS

defs = dg.Definitions(jobs=JOBS, schedules=SCHEDULES, sensors=SENSORS)
