"""Exact money helpers: integer minor units, Decimal conversion, vendor-style text."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache

#: Decimal places of each currency, ISO 4217 minor units (Stripe and NetSuite agree: JPY has
#: no minor unit; KWD has three, Stripe amounts in fils, thousandths of a dinar).
EXPONENT = {"USD": 2, "EUR": 2, "GBP": 2, "JPY": 0, "KWD": 3}
#: the currencies every sandbox bills in; a profile may add more (`billing.kwd_share`)
CURRENCIES = ("USD", "EUR", "GBP", "JPY")
_QUANT = {0: Decimal(1), 2: Decimal("0.01"), 3: Decimal("0.001"), 6: Decimal("0.000001")}


def round_half_away(value: Decimal, places: int = 0) -> Decimal:
    """Round half away from zero to `places` decimals (ROUND_HALF_UP is away from zero)."""
    return value.quantize(_QUANT[places], rounding=ROUND_HALF_UP)


def div_round(num: int, den: int) -> int:
    """Integer division rounded half away from zero (exact, no floats)."""
    q, r = divmod(abs(num), den)
    if 2 * r >= den:
        q += 1
    return q if (num >= 0) == (den > 0) else -q


def to_major(minor: int, currency: str) -> Decimal:
    """Minor units to a Decimal in major units (`335000` JPY -> 335000, 1250 USD -> 12.50)."""
    exp = EXPONENT[currency.upper()]
    return Decimal(minor).scaleb(-exp) if exp else Decimal(minor)


@lru_cache(maxsize=65536)
def major_text(minor: int, currency: str) -> str:
    """Exact major-unit text, e.g. "1200.00", JPY "335000"."""
    exp = EXPONENT[currency.upper()]
    if not exp:
        return str(minor)
    sign = "-" if minor < 0 else ""
    whole, frac = divmod(abs(minor), 10**exp)
    return f"{sign}{whole}.{frac:0{exp}d}"


def usd_cents(minor: int, currency: str, rate: Decimal) -> int:
    """Convert an amount to USD cents at `rate` (1 unit of currency = rate USD), half away."""
    if currency.upper() == "USD":
        return minor
    return int(round_half_away(to_major(minor, currency) * rate, 2).scaleb(2))


def cents_text(cents: int) -> str:
    """USD cents as "123.45"."""
    return major_text(cents, "USD")


@lru_cache(maxsize=65536)
def micro_units(rate: Decimal) -> int:
    """A rate with at most 6 decimals as an integer count of millionths (exact)."""
    micro = rate.scaleb(6)
    if micro != micro.to_integral_value():
        raise ValueError(f"rate {rate} has more than 6 decimals")
    return int(micro)


def usd_cents_micro(minor: int, currency: str, micro: int) -> int:
    """`usd_cents` with the rate given as `micro_units(rate)`: the same value, in integers."""
    exp = EXPONENT[currency]
    if exp <= 2:
        return div_round(minor * micro * 10 ** (2 - exp), 1_000_000)
    return div_round(minor * micro, 1_000_000 * 10 ** (exp - 2))
