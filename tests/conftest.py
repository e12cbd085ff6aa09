"""Shared test setup: no telemetry, ever (there is no network to send it to)."""

from __future__ import annotations

from closeloop.settings import disable_telemetry

disable_telemetry()
