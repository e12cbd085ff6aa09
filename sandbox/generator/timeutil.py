"""Time helpers: epoch seconds in UTC and the vendors' text formats."""

from __future__ import annotations

import calendar
import time
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

DAY = 86_400


def epoch_of(d: date) -> int:
    """Epoch seconds of a date's 00:00:00 UTC."""
    return calendar.timegm(d.timetuple())


def date_of(t: int) -> date:
    """The UTC date of an epoch second."""
    return datetime.fromtimestamp(t, UTC).date()


_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def add_months(t: int, months: int) -> int:
    """Same day-of-month and time `months` later, clamped to the month's length (Stripe)."""
    days, sec = divmod(t, DAY)
    d = date.fromordinal(_EPOCH_ORDINAL + days)
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    day = min(d.day, _month_days(year, month))
    return (date(year, month, day).toordinal() - _EPOCH_ORDINAL) * DAY + sec


@lru_cache(maxsize=4096)
def _month_days(year: int, month: int) -> int:
    return calendar.monthrange(year, month)[1]


def add_months_date(d: date, months: int) -> date:
    """A date `months` later, clamped to the month's length."""
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


def sf_datetime(t: int) -> str:
    """Salesforce datetime text, e.g. `2025-09-15T16:20:00.000+0000`."""
    return time.strftime("%Y-%m-%dT%H:%M:%S.000+0000", time.gmtime(t))


def ns_datetime(t: int) -> str:
    """NetSuite stored datetime text (UTC), `2025-09-15 16:20:00`."""
    day, sec = divmod(t, DAY)
    h, rest = divmod(sec, 3600)
    return f"{iso_day(day * DAY)} {h:02d}:{rest // 60:02d}:{rest % 60:02d}"


@lru_cache(maxsize=8192)
def iso_day(t: int) -> str:
    """`YYYY-MM-DD` of an epoch second (cached per day: the generator's hottest call)."""
    return datetime.fromtimestamp(t - t % DAY, UTC).date().isoformat()


def iso_z(t: int) -> str:
    """ISO-8601 UTC with a Z, `2026-11-01T00:00:00Z`."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def month_key(d: date) -> str:
    """`YYYY-MM` of a date."""
    return f"{d.year:04d}-{d.month:02d}"


def month_end(d: date) -> date:
    """Last day of the date's month."""
    return date(d.year, d.month, calendar.monthrange(d.year, d.month)[1])


def short_date(t: int) -> str:
    """`15 Sep 2025`, as Stripe writes dates in proration descriptions."""
    dt = datetime.fromtimestamp(t, UTC)
    return f"{dt.day} {dt.strftime('%b %Y')}"


def days(n: int) -> timedelta:
    """A timedelta of n days."""
    return timedelta(days=n)
