"""The simulation's day key: the `YYYY-MM-DD` (UTC) of an epoch second, as records date it."""

from __future__ import annotations

from sandbox.generator.timeutil import DAY, iso_day


def day_key(t: int) -> str:
    """`YYYY-MM-DD` of the UTC day holding epoch second t (`iso_day`'s cache is per day)."""
    return iso_day(t - t % DAY)
