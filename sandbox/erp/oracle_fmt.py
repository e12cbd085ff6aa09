"""Oracle date format models (`TO_CHAR`, `TO_DATE`) and the NetSuite account date format."""

from __future__ import annotations

import functools
import re
from datetime import date, datetime

_MONTHS = [
    "JANUARY",
    "FEBRUARY",
    "MARCH",
    "APRIL",
    "MAY",
    "JUNE",
    "JULY",
    "AUGUST",
    "SEPTEMBER",
    "OCTOBER",
    "NOVEMBER",
    "DECEMBER",
]
_DAYS = ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY", "SATURDAY", "SUNDAY"]

# Longest elements first so that e.g. HH24 wins over HH and MONTH over MON.
_ELEMENTS = [
    "A.M.",
    "P.M.",
    "MONTH",
    "HH24",
    "HH12",
    "YYYY",
    "RRRR",
    "SSSSS",
    "YYY",
    "MON",
    "DDD",
    "DAY",
    "FM",
    "YY",
    "RR",
    "MM",
    "DD",
    "DY",
    "HH",
    "MI",
    "SS",
    "AM",
    "PM",
    "FF",
    "Q",
    "D",
    "Y",
]
_PUNCT = set(" -/,.;:T")


class FormatError(ValueError):
    """A format model or a value that does not match it."""


@functools.lru_cache(maxsize=256)
def _tokens(fmt: str) -> tuple[tuple[str, str], ...]:
    """Split a format model into ("el", ELEMENT, original) / ("lit", text) tokens.

    Cached: a query formats every row with the same few models.
    """
    out: list[tuple[str, str]] = []
    i = 0
    while i < len(fmt):
        ch = fmt[i]
        if ch == '"':
            end = fmt.find('"', i + 1)
            if end < 0:
                raise FormatError(f"unterminated quoted text in format {fmt!r}")
            out.append(("lit", fmt[i + 1 : end]))
            i = end + 1
            continue
        upper = fmt[i:].upper()
        for el in _ELEMENTS:
            if upper.startswith(el):
                out.append(("el:" + el, fmt[i : i + len(el)]))
                i += len(el)
                break
        else:
            if ch in _PUNCT:
                out.append(("lit", ch))
                i += 1
            else:
                raise FormatError(f"invalid format element at {fmt[i:]!r} in {fmt!r}")
    return tuple(out)


def _case_like(word: str, pattern: str) -> str:
    """Oracle capitalises month/day names like the element was written (MON, Mon, mon)."""
    if pattern.isupper():
        return word.upper()
    if pattern[:1].isupper():
        return word.capitalize()
    return word.lower()


def to_char(value: datetime, fmt: str) -> str:
    """Format a datetime with an Oracle format model such as `YYYY-MM-DD HH24:MI:SS`."""
    fill = True
    parts: list[str] = []
    for kind, text in _tokens(fmt):
        if kind == "lit":
            parts.append(text)
            continue
        el = kind[3:]

        def num(n: int, width: int, fill: bool = fill) -> str:
            return str(n).zfill(width) if fill else str(n)

        hour12 = value.hour % 12 or 12
        if el == "FM":
            fill = not fill
        elif el in ("YYYY", "RRRR"):
            parts.append(num(value.year, 4))
        elif el == "YYY":
            parts.append(num(value.year % 1000, 3))
        elif el in ("YY", "RR"):
            parts.append(num(value.year % 100, 2))
        elif el == "Y":
            parts.append(str(value.year % 10))
        elif el == "MM":
            parts.append(num(value.month, 2))
        elif el == "MONTH":
            name = _MONTHS[value.month - 1]
            parts.append(_case_like(name.ljust(9) if fill else name, text))
        elif el == "MON":
            parts.append(_case_like(_MONTHS[value.month - 1][:3], text))
        elif el == "DD":
            parts.append(num(value.day, 2))
        elif el == "DDD":
            parts.append(num(value.timetuple().tm_yday, 3))
        elif el == "D":
            parts.append(str((value.weekday() + 1) % 7 + 1))  # Sunday = 1 (American territory)
        elif el == "DAY":
            name = _DAYS[value.weekday()]
            parts.append(_case_like(name.ljust(9) if fill else name, text))
        elif el == "DY":
            parts.append(_case_like(_DAYS[value.weekday()][:3], text))
        elif el == "HH24":
            parts.append(num(value.hour, 2))
        elif el in ("HH", "HH12"):
            parts.append(num(hour12, 2))
        elif el == "MI":
            parts.append(num(value.minute, 2))
        elif el == "SS":
            parts.append(num(value.second, 2))
        elif el == "SSSSS":
            parts.append(num(value.hour * 3600 + value.minute * 60 + value.second, 5))
        elif el in ("AM", "PM", "A.M.", "P.M."):
            marker = "AM" if value.hour < 12 else "PM"
            parts.append(marker if "." not in el else f"{marker[0]}.{marker[1]}.")
        elif el == "Q":
            parts.append(str((value.month - 1) // 3 + 1))
        elif el == "FF":
            parts.append(num(value.microsecond, 6))
    return "".join(parts)


def parse(text: str, fmt: str) -> datetime:
    """Parse `text` with an Oracle format model (`TO_DATE` / `TO_TIMESTAMP` semantics).

    Raises:
        FormatError: the format is invalid or the text does not match it.
    """
    pattern: list[str] = []
    fields: list[str] = []
    for kind, tok in _tokens(fmt):
        if kind == "lit":
            # Oracle is lenient about which separator is used between elements.
            pattern.append(r"[\s\-/,.;:T]*" if tok.strip() or tok == " " else re.escape(tok))
            continue
        el = kind[3:]
        if el == "FM":
            continue
        regex = {
            "YYYY": r"(\d{4})",
            "RRRR": r"(\d{4})",
            "YY": r"(\d{2})",
            "RR": r"(\d{2})",
            "MM": r"(\d{1,2})",
            "MON": r"([A-Za-z]{3})",
            "MONTH": r"([A-Za-z]+)",
            "DD": r"(\d{1,2})",
            "HH24": r"(\d{1,2})",
            "HH": r"(\d{1,2})",
            "HH12": r"(\d{1,2})",
            "MI": r"(\d{1,2})",
            "SS": r"(\d{1,2})",
            "FF": r"(\d{1,9})",
            "AM": r"([AaPp]\.?[Mm]\.?)",
            "PM": r"([AaPp]\.?[Mm]\.?)",
            "A.M.": r"([AaPp]\.?[Mm]\.?)",
            "P.M.": r"([AaPp]\.?[Mm]\.?)",
            "DY": r"([A-Za-z]{3})",
            "DAY": r"([A-Za-z]+)",
        }.get(el)
        if regex is None:
            raise FormatError(f"format element {el} cannot be used to read a date")
        pattern.append(regex)
        fields.append(el)
    match = re.fullmatch(r"\s*" + "".join(pattern) + r"\s*", text)
    if not match:
        raise FormatError(f"{text!r} does not match the format {fmt!r}")
    year, month, day, hour, minute, second, micro = 1, 1, 1, 0, 0, 0, 0
    pm: bool | None = None
    twelve = False
    for el, raw in zip(fields, match.groups(), strict=True):
        if el in ("YYYY", "RRRR"):
            year = int(raw)
        elif el in ("YY", "RR"):
            year = 2000 + int(raw) if int(raw) < 50 else 1900 + int(raw)
        elif el == "MM":
            month = int(raw)
        elif el in ("MON", "MONTH"):
            names = [m[: len(raw)] if el == "MON" else m for m in _MONTHS]
            if raw.upper() not in names:
                raise FormatError(f"not a month: {raw!r}")
            month = names.index(raw.upper()) + 1
        elif el == "DD":
            day = int(raw)
        elif el == "HH24":
            hour = int(raw)
        elif el in ("HH", "HH12"):
            hour, twelve = int(raw), True
        elif el == "MI":
            minute = int(raw)
        elif el == "SS":
            second = int(raw)
        elif el == "FF":
            micro = int(raw.ljust(6, "0")[:6])
        elif el in ("AM", "PM", "A.M.", "P.M."):
            pm = raw[0].upper() == "P"
    if twelve:
        if not 1 <= hour <= 12:
            raise FormatError(f"hour must be between 1 and 12: {hour}")
        hour = hour % 12 + (12 if pm else 0)
    try:
        return datetime(year, month, day, hour, minute, second, micro)
    except ValueError as exc:
        raise FormatError(f"{text!r} is not a valid date: {exc}") from None


_ACCOUNT_RE = re.compile(
    r"\s*(\d{1,2})/(\d{1,2})/(\d{4})(?:\s+(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([AaPp][Mm])?)?\s*"
)
_ISO_RE = re.compile(r"\s*(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2}))?)?\s*")


def parse_loose(text: str) -> datetime:
    """Read a date string the way NetSuite compares it to a date column.

    Accepts the account format (`1/15/2025`, optionally with a time such as `1/15/2025 3:04 pm`)
    and ISO (`2025-01-15`, `2025-01-15 10:00:00`).

    Raises:
        FormatError: the text is not a date.
    """
    m = _ACCOUNT_RE.fullmatch(text)
    try:
        if m:
            mo, d, y, hh, mi, ss, ampm = m.groups()
            hour = int(hh or 0)
            if ampm:
                hour = hour % 12 + (12 if ampm.upper() == "PM" else 0)
            return datetime(int(y), int(mo), int(d), hour, int(mi or 0), int(ss or 0))
        m = _ISO_RE.fullmatch(text)
        if m:
            y, mo, d, hh, mi, ss = m.groups()
            return datetime(int(y), int(mo), int(d), int(hh or 0), int(mi or 0), int(ss or 0))
    except ValueError as exc:
        raise FormatError(f"{text!r} is not a valid date: {exc}") from None
    raise FormatError(f"{text!r} is not a date in the account format (M/D/YYYY)")


def from_stored(value: str) -> datetime:
    """Read a stored date ('YYYY-MM-DD') or datetime ('YYYY-MM-DD HH:MM:SS')."""
    if len(value) == 10:
        d = date.fromisoformat(value)
        return datetime(d.year, d.month, d.day)
    return datetime.fromisoformat(value.replace("T", " ")[:19])


def account_date(value: str) -> str:
    """Render a stored date or datetime in the account format `M/D/YYYY`."""
    y, m, d = value[:10].split("-")
    return f"{int(m)}/{int(d)}/{int(y)}"
