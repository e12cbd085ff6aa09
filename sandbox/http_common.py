"""What the three sandbox APIs share: bearer auth and deterministic fault injection.

`wrap(app, system=..., token=..., faults=...)` puts an ASGI middleware in front of a vendor app:

- auth: the vendor's own header forms and its own 401 body (Salesforce `INVALID_SESSION_ID`,
  Stripe `invalid_request_error`, NetSuite `INVALID_LOGIN`). Tokens are never echoed in full.
- faults: with probability `rate` a request gets a 429 with `Retry-After`, a 500, a 503, added
  latency, or a connection dropped mid-response. The choice is a pure function of
  (seed, system, request number), so a run is reproducible request by request.
- rate limit: an optional requests-per-second ceiling answered with 429 and `Retry-After`
  (the ERP's concurrency/rate governance).
- `GET|PUT /_sandbox/faults` (same auth) reads or changes the fault settings of a running
  server, so a test can switch faults on and off without a restart. This is a sandbox
  extension: no vendor has it.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

import orjson

log = logging.getLogger(__name__)

System = Literal["crm", "billing", "erp"]
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

FAULT_KINDS = ("429", "500", "503", "latency", "drop")
ADMIN_PATH = "/_sandbox/faults"


@dataclass(frozen=True)
class FaultConfig:
    """Fault injection settings of one API.

    Attributes:
        rate: share of requests that get a fault, 0..1.
        kinds: which faults to draw from (`429`, `500`, `503`, `latency`, `drop`).
        seed: makes the sequence of faults reproducible.
        latency_ms: delay added by a `latency` fault.
        retry_after: seconds announced in `Retry-After` on a 429.
        rps_limit: requests per second above which the API answers 429 (0 = no limit).
    """

    rate: float = 0.0
    kinds: tuple[str, ...] = FAULT_KINDS
    seed: int = 0
    latency_ms: int = 200
    retry_after: int = 1
    rps_limit: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"fault rate must be between 0 and 1, got {self.rate}")
        unknown = set(self.kinds) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; known: {FAULT_KINDS}")

    @classmethod
    def parse(cls, spec: str) -> FaultConfig:
        """Parse `rate=0.1,kinds=429+503+drop,seed=7,latency_ms=100,rps_limit=20`.

        A bare number is the rate. An empty string means no faults.
        """
        spec = spec.strip()
        if not spec:
            return cls()
        try:
            return cls(rate=float(spec))
        except ValueError:
            pass
        values: dict[str, Any] = {}
        for part in spec.split(","):
            key, sep, raw = part.partition("=")
            key = key.strip()
            if not sep:
                raise ValueError(f"fault setting {part!r} is not key=value")
            if key == "kinds":
                values[key] = tuple(k for k in raw.replace("|", "+").split("+") if k)
            elif key in ("rate", "rps_limit"):
                values[key] = float(raw)
            elif key in ("seed", "latency_ms", "retry_after"):
                values[key] = int(raw)
            else:
                raise ValueError(f"unknown fault setting {key!r}")
        return cls(**values)


def mask_secret(secret: str) -> str:
    """`sk_test_sandbox` -> `sk_test_****dbox`: enough to recognise, never enough to use."""
    if len(secret) <= 8:
        return "****"
    head = secret[:8] if secret.startswith(("sk_", "rk_")) else secret[:2]
    return f"{head}****{secret[-4:]}"


# --- the vendors' error bodies ---------------------------------------------------------


def _crm_error(status: int, code: str, message: str) -> bytes:
    return orjson.dumps([{"message": message, "errorCode": code}])


def _billing_error(status: int, code: str, message: str) -> bytes:
    kind = {401: "invalid_request_error", 429: "rate_limit_error"}.get(status, "api_error")
    body: dict[str, Any] = {"type": kind, "message": message}
    if code:
        body["code"] = code
    return orjson.dumps({"error": body})


_RFC = {
    401: ("15.5.2", "Unauthorized"),
    429: ("15.5.29", "Too Many Requests"),
    500: ("15.6.1", "Internal Server Error"),
    503: ("15.6.4", "Service Unavailable"),
}


def _erp_error(status: int, code: str, message: str) -> bytes:
    section, title = _RFC.get(status, ("15.6.1", "Internal Server Error"))
    if status == 429:
        section = "6.5.29"  # NetSuite points 429 at RFC 6585
    return orjson.dumps(
        {
            "type": f"https://www.rfc-editor.org/rfc/rfc9110.html#section-{section}",
            "title": title,
            "status": status,
            "o:errorDetails": [{"detail": message, "o:errorCode": code}],
        }
    )


_ERRORS: dict[System, Callable[[int, str, str], bytes]] = {
    "crm": _crm_error,
    "billing": _billing_error,
    "erp": _erp_error,
}

_FAULT_TEXT: dict[System, dict[str, tuple[str, str]]] = {
    "crm": {
        "429": ("REQUEST_LIMIT_EXCEEDED", "ConcurrentPerOrgLongTxn Limit exceeded."),
        "500": ("UNKNOWN_EXCEPTION", "An unexpected error occurred. Please try again."),
        "503": ("SERVER_UNAVAILABLE", "Server temporarily unavailable."),
    },
    "billing": {
        "429": ("rate_limit", "Too many requests hit the API too quickly."),
        "500": ("", "An unknown error occurred while processing your request."),
        "503": ("", "Stripe is temporarily unavailable. Please try again."),
    },
    "erp": {
        "429": (
            "CONCURRENCY_LIMIT_EXCEEDED",
            "Request blocked by the concurrency governance limit. Retry later.",
        ),
        "500": ("UNEXPECTED_ERROR", "An unexpected error occurred."),
        "503": ("SERVICE_UNAVAILABLE", "The service is temporarily unavailable."),
    },
}


def _unauthorized(system: System, header_present: bool, presented: str) -> bytes:
    if system == "crm":
        return _crm_error(401, "INVALID_SESSION_ID", "Session expired or invalid")
    if system == "billing":
        if not header_present:
            msg = (
                "You did not provide an API key. You need to provide your API key in the "
                "Authorization header, using Bearer auth "
                "(e.g. 'Authorization: Bearer YOUR_SECRET_KEY')."
            )
        else:
            msg = f"Invalid API Key provided: {mask_secret(presented)}"
        return _billing_error(401, "", msg)
    return _erp_error(
        401,
        "INVALID_LOGIN",
        "Invalid login attempt. For more details, see the Login Audit Trail in the NetSuite UI "
        "at Setup > Users/Roles > User Management > View Login Audit Trail.",
    )


def _presented_token(system: System, headers: dict[bytes, bytes]) -> tuple[bool, str]:
    raw = headers.get(b"authorization")
    if raw is None:
        return False, ""
    value = raw.decode("latin-1").strip()
    scheme, _, cred = value.partition(" ")
    scheme = scheme.lower()
    cred = cred.strip()
    if scheme == "bearer" or (system == "crm" and scheme == "oauth"):
        return True, cred
    if system == "billing" and scheme == "basic":
        try:
            user, _, _ = base64.b64decode(cred).decode().partition(":")
        except ValueError:
            return True, ""
        return True, user
    return True, ""


class SandboxMiddleware:
    """ASGI middleware: auth, then rate limit and faults, then the vendor app."""

    def __init__(self, app: ASGIApp, *, system: System, token: str, faults: FaultConfig) -> None:
        self.app = app
        self.system: System = system
        self._token = token
        self.faults = faults
        self._lock = threading.Lock()
        self._counter = 0
        self._window_start = time.monotonic()
        self._window_count = 0

    def __repr__(self) -> str:  # never show the token
        return f"SandboxMiddleware(system={self.system!r}, faults={self.faults!r})"

    async def _send_json(
        self, send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]] | None = None
    ) -> None:
        hdrs = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        await send(
            {"type": "http.response.start", "status": status, "headers": hdrs + (headers or [])}
        )
        await send({"type": "http.response.body", "body": body})

    def _next_draw(self) -> tuple[int, float]:
        with self._lock:
            self._counter += 1
            n = self._counter
        digest = hashlib.blake2b(
            f"{self.faults.seed}:{self.system}:{n}".encode(), digest_size=8
        ).digest()
        return n, int.from_bytes(digest, "big") / 2**64

    def _over_rate_limit(self) -> bool:
        limit = self.faults.rps_limit
        if limit <= 0:
            return False
        with self._lock:
            now = time.monotonic()
            if now - self._window_start >= 1.0:
                self._window_start, self._window_count = now, 0
            self._window_count += 1
            return self._window_count > limit

    async def _admin(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] == "PUT":
            chunks = []
            while True:
                message = await receive()
                chunks.append(message.get("body", b""))
                if not message.get("more_body"):
                    break
            try:
                changes = orjson.loads(b"".join(chunks) or b"{}")
                if "kinds" in changes:
                    changes["kinds"] = tuple(changes["kinds"])
                self.faults = replace(self.faults, **changes)
            except (TypeError, ValueError) as exc:
                await self._send_json(send, 400, orjson.dumps({"error": str(exc)}))
                return
            log.info("%s faults now %s", self.system, self.faults)
        await self._send_json(send, 200, orjson.dumps(asdict(self.faults)))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        present, presented = _presented_token(self.system, headers)
        if not presented or not _constant_time_equal(presented, self._token):
            await self._send_json(send, 401, _unauthorized(self.system, present, presented))
            return
        if scope["path"] == ADMIN_PATH:
            await self._admin(scope, receive, send)
            return

        error = _ERRORS[self.system]
        if self._over_rate_limit():
            code, message = _FAULT_TEXT[self.system]["429"]
            retry = str(self.faults.retry_after).encode()
            await self._send_json(send, 429, error(429, code, message), [(b"retry-after", retry)])
            return

        faults = self.faults
        if faults.rate > 0 and faults.kinds:
            n, draw = self._next_draw()
            if draw < faults.rate:
                kind = faults.kinds[int(draw / faults.rate * len(faults.kinds)) % len(faults.kinds)]
                log.debug("%s request %d: injected fault %s", self.system, n, kind)
                if kind == "latency":
                    await asyncio.sleep(faults.latency_ms / 1000)
                elif kind == "drop":
                    await self._drop(scope, receive, send)
                    return
                else:
                    status = int(kind)
                    code, message = _FAULT_TEXT[self.system][kind]
                    extra = (
                        [(b"retry-after", str(faults.retry_after).encode())]
                        if status == 429
                        else []
                    )
                    await self._send_json(send, status, error(status, code, message), extra)
                    return
        await self.app(scope, receive, send)

    async def _drop(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the request, then cut the connection half way through the response body.

        The request is applied (a write commits): what is lost is the answer, which is the
        case an exactly-once client must handle by checking before it retries.
        """
        started: dict[str, Any] = {}

        async def cut(message: Message) -> None:
            if message["type"] == "http.response.start":
                started.update(message)
                return
            body = message.get("body", b"")
            headers = [
                (k, v) for k, v in started.get("headers", []) if k.lower() != b"content-length"
            ]
            headers.append((b"content-length", str(max(len(body), 2)).encode()))
            # A 204 cannot announce a body, and a client that got the whole status line of a
            # bodiless answer has its answer: announce 200 with a body that never comes, so a
            # committed write loses its answer, as when a connection drops before the reply.
            status = 200 if started.get("status") in (204, 304) else started.get("status")
            await send({**started, "status": status, "headers": headers})
            await send(
                {"type": "http.response.body", "body": body[: len(body) // 2], "more_body": True}
            )
            raise ConnectionResetError("sandbox fault: connection dropped mid-response")

        # uvicorn closes the transport when the app raises after the response started, which
        # is exactly what a client sees when a connection drops mid-body.
        await self.app(scope, receive, cut)


def _constant_time_equal(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def wrap(
    app: ASGIApp, *, system: System, token: str, faults: FaultConfig | None = None
) -> SandboxMiddleware:
    """Put auth and fault injection in front of a vendor app.

    Args:
        app: the vendor-shaped ASGI app (`sandbox.<system>.create_app(paths)`).
        system: `crm`, `billing` or `erp` (picks the error shapes and auth forms).
        token: the one bearer token (Stripe: secret key) the API accepts.
        faults: fault injection and rate limit settings; none by default.

    Returns:
        The wrapped ASGI app.
    """
    return SandboxMiddleware(app, system=system, token=token, faults=faults or FaultConfig())


__all__ = ["ADMIN_PATH", "FAULT_KINDS", "FaultConfig", "SandboxMiddleware", "mask_secret", "wrap"]
