"""Auth, fault injection and rate limiting in front of the sandbox APIs, over real HTTP."""

from __future__ import annotations

import base64

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from sandbox.http_common import FaultConfig, mask_secret, wrap
from sandbox.testing import serve

TOKEN = "sk_test_supersecretvalue123"


def _echo_app() -> Starlette:
    async def rows(request: Request) -> JSONResponse:
        return JSONResponse({"rows": list(range(2000))})

    return Starlette(routes=[Route("/rows", rows)])


@pytest.mark.parametrize(
    ("system", "check"),
    [
        (
            "crm",
            lambda body: (
                body
                == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
            ),
        ),
        ("billing", lambda body: body["error"]["type"] == "invalid_request_error"),
        (
            "erp",
            lambda body: (
                body["status"] == 401
                and body["o:errorDetails"][0]["o:errorCode"] == "INVALID_LOGIN"
            ),
        ),
    ],
)
def test_wrong_or_missing_token_is_401_in_vendor_shape(system, check) -> None:
    app = wrap(_echo_app(), system=system, token=TOKEN)
    with serve(app) as url, httpx.Client(base_url=url) as http:
        for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": f"Basic {TOKEN}"}):
            resp = http.get("/rows", headers=headers)
            assert resp.status_code == 401, headers
            assert check(resp.json())
            assert TOKEN not in resp.text
        assert http.get("/rows", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200


def test_billing_accepts_basic_auth_with_key_as_user_and_masks_wrong_keys() -> None:
    app = wrap(_echo_app(), system="billing", token=TOKEN)
    with serve(app) as url, httpx.Client(base_url=url) as http:
        basic = base64.b64encode(f"{TOKEN}:".encode()).decode()
        assert http.get("/rows", headers={"Authorization": f"Basic {basic}"}).status_code == 200
        wrong = "sk_test_wrongwrongwrong9876"
        resp = http.get("/rows", headers={"Authorization": f"Bearer {wrong}"})
        assert resp.status_code == 401
        assert wrong not in resp.text and mask_secret(wrong) in resp.text


def test_crm_accepts_oauth_scheme() -> None:
    app = wrap(_echo_app(), system="crm", token=TOKEN)
    with serve(app) as url:
        resp = httpx.get(f"{url}/rows", headers={"Authorization": f"OAuth {TOKEN}"})
        assert resp.status_code == 200


def _statuses(faults: FaultConfig, n: int) -> list[str]:
    app = wrap(_echo_app(), system="erp", token=TOKEN, faults=faults)
    seen = []
    with serve(app) as url:
        for _ in range(n):
            # a new connection per request: a dropped one must not poison the next
            try:
                resp = httpx.get(f"{url}/rows", headers={"Authorization": f"Bearer {TOKEN}"})
                seen.append(str(resp.status_code))
                if resp.status_code == 429:
                    assert resp.headers["retry-after"] == str(faults.retry_after)
                    assert resp.json()["o:errorDetails"][0]["o:errorCode"]
            except httpx.TransportError:
                seen.append("drop")
    return seen


def test_faults_are_deterministic_by_seed_and_near_the_rate() -> None:
    faults = FaultConfig(rate=0.3, kinds=("429", "500", "503", "drop"), seed=7, retry_after=3)
    first = _statuses(faults, 80)
    assert first == _statuses(faults, 80)
    assert first != _statuses(FaultConfig(rate=0.3, kinds=faults.kinds, seed=8), 80)
    failed = sum(1 for s in first if s != "200")
    assert 10 <= failed <= 40, first
    assert {"429", "500", "503", "drop"} <= set(first)


def test_no_faults_by_default_and_rate_limit_answers_429() -> None:
    assert set(_statuses(FaultConfig(), 20)) == {"200"}
    limited = _statuses(FaultConfig(rps_limit=5, retry_after=1), 15)
    assert limited.count("429") >= 5


def test_faults_can_be_switched_at_runtime() -> None:
    app = wrap(_echo_app(), system="billing", token=TOKEN)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with serve(app) as url, httpx.Client(base_url=url, headers=auth) as http:
        assert http.get("/rows").status_code == 200
        resp = http.put("/_sandbox/faults", json={"rate": 1.0, "kinds": ["503"]})
        assert resp.json()["rate"] == 1.0
        assert http.get("/rows").status_code == 503
        http.put("/_sandbox/faults", json={"rate": 0.0})
        assert http.get("/rows").status_code == 200
        assert http.put("/_sandbox/faults", json={"bogus": 1}).status_code == 400


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("", FaultConfig()),
        ("0.1", FaultConfig(rate=0.1)),
        ("rate=0.2,kinds=429+drop,seed=3", FaultConfig(rate=0.2, kinds=("429", "drop"), seed=3)),
        ("rps_limit=20", FaultConfig(rps_limit=20)),
    ],
)
def test_fault_spec_parsing(spec: str, expected: FaultConfig) -> None:
    assert FaultConfig.parse(spec) == expected


@pytest.mark.parametrize("spec", ["rate=2", "kinds=404", "speed=3", "nonsense"])
def test_bad_fault_spec_is_a_clear_error(spec: str) -> None:
    with pytest.raises(ValueError):
        FaultConfig.parse(spec)


def test_dropped_write_is_applied_but_its_answer_is_lost() -> None:
    """A bodiless 204 must not survive a drop: the client cannot know whether it landed."""
    from starlette.responses import Response

    applied: list[int] = []

    async def write(request: Request) -> Response:
        applied.append(1)
        return Response(status_code=204, headers={"Location": "/record/1"})

    app = wrap(
        Starlette(routes=[Route("/w", write, methods=["POST"])]),
        system="erp",
        token=TOKEN,
        faults=FaultConfig(rate=1.0, kinds=("drop",)),
    )
    with serve(app) as url, pytest.raises(httpx.TransportError):
        httpx.post(f"{url}/w", headers={"Authorization": f"Bearer {TOKEN}"})
    assert applied == [1]
