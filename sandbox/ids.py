"""Vendor-shaped identifiers: Salesforce 18-character ids, Stripe prefixed ids."""

from __future__ import annotations

import hashlib

_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
_ORG_POD = "5g"  # pretend instance/pod characters, constant for the sandbox org


def _base62(n: int, width: int) -> str:
    out = []
    for _ in range(width):
        n, r = divmod(n, 62)
        out.append(_B62[r])
    if n:
        raise ValueError("number too large for the id width")
    return "".join(reversed(out))


def sf_case_safe_suffix(id15: str) -> str:
    """The three-character suffix Salesforce appends to make an id case-insensitive."""
    if len(id15) != 15:
        raise ValueError(f"expected a 15-character id, got {id15!r}")
    suffix = []
    for chunk in range(3):
        bits = 0
        for i, ch in enumerate(id15[chunk * 5 : chunk * 5 + 5]):
            if "A" <= ch <= "Z":
                bits |= 1 << i
        suffix.append(_SUFFIX[bits])
    return "".join(suffix)


def sf_id(key_prefix: str, n: int) -> str:
    """The n-th 18-character Salesforce id with the given 3-character key prefix."""
    id15 = key_prefix + _ORG_POD + _base62(n, 10)
    return id15 + sf_case_safe_suffix(id15)


def stripe_id(prefix: str, n: int, seed: int = 0) -> str:
    """A Stripe-looking id (`cus_...`, `in_...`) that is unique per (prefix, n) and stable."""
    digest = hashlib.blake2b(f"{seed}:{prefix}:{n}".encode(), digest_size=9).digest()
    body = _base62(int.from_bytes(digest, "big"), 14)
    return f"{prefix}_{body}"
