"""Stripe-style query strings: bracket syntax (`created[gte]`, `expand[]`, `expand[0]`) and errors.

Every failure is a `StripeError` carrying the vendor's error body, so request handlers can raise
from anywhere and the app answers in Stripe's shape.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

_KEY_RE = re.compile(r"^([A-Za-z0-9_]+)(?:\[([^\[\]]*)\])?$")
_INT_RE = re.compile(r"^-?\d{1,18}$")


class StripeError(Exception):
    """An error answered in Stripe's shape: `{"error": {"type", "message", "code", "param"}}`."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        type_: str = "invalid_request_error",
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param
        self.type = type_

    def body(self) -> dict[str, Any]:
        """The JSON body Stripe sends for this error."""
        err: dict[str, Any] = {}
        if self.code is not None:
            err["code"] = self.code
            err["doc_url"] = f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}"
        err["message"] = self.message
        if self.param is not None:
            err["param"] = self.param
        err["type"] = self.type
        return {"error": err}


def unknown_parameter(name: str) -> StripeError:
    """The 400 for a parameter the endpoint does not take."""
    return StripeError(
        400, f"Received unknown parameter: {name}", code="parameter_unknown", param=name
    )


def resource_missing(object_name: str, id_: str, *, param: str, status: int) -> StripeError:
    """The 404 (retrieve) or 400 (cursor) for an id that does not exist."""
    return StripeError(
        status,
        f"No such {object_name}: '{id_}'",
        code="resource_missing",
        param=param,
    )


@dataclass
class Query:
    """A parsed query string: scalars, arrays (`x[]`, `x[0]`) and hashes (`x[key]`)."""

    scalars: dict[str, str] = field(default_factory=dict)
    arrays: dict[str, list[str]] = field(default_factory=dict)
    hashes: dict[str, dict[str, str]] = field(default_factory=dict)

    def names(self) -> set[str]:
        """Every top-level parameter name present."""
        return set(self.scalars) | set(self.arrays) | set(self.hashes)


def parse_query(raw: str) -> Query:
    """Parse a raw query string the way Stripe reads form-encoded parameters.

    Args:
        raw: The query string, without the leading `?`.

    Returns:
        The parsed parameters.

    Raises:
        StripeError: For a key that is not `name`, `name[]`, `name[N]` or `name[key]`, or a name
            used both as a scalar and with brackets.
    """
    query = Query()
    indexed: dict[str, list[tuple[int, str]]] = {}
    for key, value in parse_qsl(raw, keep_blank_values=True):
        match = _KEY_RE.match(key)
        if match is None:
            raise unknown_parameter(key)
        name, sub = match.group(1), match.group(2)
        if sub is None:
            query.scalars[name] = value
        elif sub == "":
            query.arrays.setdefault(name, []).append(value)
        elif sub.isdigit():
            indexed.setdefault(name, []).append((int(sub), value))
        else:
            query.hashes.setdefault(name, {})[sub] = value
    for name, items in indexed.items():
        query.arrays.setdefault(name, []).extend(v for _, v in sorted(items))
    for name in query.scalars:
        if name in query.arrays or name in query.hashes:
            raise StripeError(400, f"Invalid {name}: mixed value forms", param=name)
    for name in query.arrays:
        if name in query.hashes:
            raise StripeError(400, f"Invalid array: {name}", param=name)
    return query


def parse_int(value: str, param: str) -> int:
    """An integer parameter, or the 400 Stripe gives for anything else."""
    if not _INT_RE.match(value):
        raise StripeError(
            400, f"Invalid integer: {value}", code="parameter_invalid_integer", param=param
        )
    return int(value)


def parse_bool(value: str, param: str) -> bool:
    """A boolean parameter (`true`/`false`), or a 400."""
    if value == "true":
        return True
    if value == "false":
        return False
    raise StripeError(400, f"Invalid boolean: {value}", param=param)


def parse_enum(value: str, param: str, allowed: tuple[str, ...]) -> str:
    """One of `allowed`, or a 400 listing them."""
    if value not in allowed:
        raise StripeError(400, f"Invalid {param}: must be one of {', '.join(allowed)}", param=param)
    return value


def parse_limit(query: Query) -> int:
    """`limit`: 1 to 100, default 10."""
    if "limit" in query.arrays or "limit" in query.hashes:
        raise StripeError(400, "Invalid integer: limit", param="limit")
    raw = query.scalars.get("limit")
    if raw is None:
        return 10
    limit = parse_int(raw, "limit")
    if limit < 1:
        raise StripeError(
            400,
            "This value must be greater than or equal to 1.",
            code="parameter_invalid_integer",
            param="limit",
        )
    if limit > 100:
        raise StripeError(
            400,
            "This value must be less than or equal to 100.",
            code="parameter_invalid_integer",
            param="limit",
        )
    return limit


def scalar(query: Query, name: str) -> str | None:
    """A parameter that must be a plain value (not `x[]` nor `x[key]`)."""
    if name in query.arrays or name in query.hashes:
        raise StripeError(400, f"Invalid string: {name} must be a string", param=name)
    return query.scalars.get(name)


def array(query: Query, name: str, *, max_items: int = 100) -> list[str] | None:
    """A parameter that must be an array (`x[]=a&x[]=b` or `x[0]=a`)."""
    if name in query.scalars or name in query.hashes:
        raise StripeError(400, "Invalid array", param=name)
    values = query.arrays.get(name)
    if values is not None and len(values) > max_items:
        raise StripeError(
            400, f"Invalid array: {name} must have at most {max_items} items", param=name
        )
    return values


_RANGE_OPS = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


def range_filter(
    query: Query, param: str = "created", column: str = "created"
) -> tuple[list[str], list[int]]:
    """SQL conditions for `param=N` or `param[gt|gte|lt|lte]=N` (timestamps such as `created`)."""
    if param in query.arrays:
        raise StripeError(400, f"Invalid integer: {param}", param=param)
    if param in query.scalars:
        return [f"{column} = ?"], [parse_int(query.scalars[param], param)]
    conditions: list[str] = []
    values: list[int] = []
    for op, value in query.hashes.get(param, {}).items():
        if op not in _RANGE_OPS:
            raise unknown_parameter(f"{param}[{op}]")
        conditions.append(f"{column} {_RANGE_OPS[op]} ?")
        values.append(parse_int(value, f"{param}[{op}]"))
    return conditions, values
