"""Starlette endpoints of the NetSuite record API: routes, query checks, response shaping."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from sandbox.erp.core import NetSuiteError, connect, json_response
from sandbox.erp.record_common import (
    RECORD_PREFIX,
    RECORD_TYPES,
    _bad,
    _check_if_match,
    _Ctx,
    _not_found,
    _version,
)
from sandbox.erp.record_idempotency import _do_write, _WriteRequest
from sandbox.erp.record_reads import read_record, resolve_id
from sandbox.erp.record_writes import (
    delete_customer,
    delete_transaction,
    transform_to_creditmemo,
    write_customer,
    write_transaction,
)
from sandbox.schema import SandboxPaths

# --------------------------------------------------------------------------------------
# HTTP plumbing
# --------------------------------------------------------------------------------------


def _base(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}"


def _check_type(rtype: str) -> None:
    if rtype not in RECORD_TYPES:
        raise NetSuiteError(
            404,
            f"Record type '{rtype}' does not exist or is not supported by the sandbox "
            f"(supported: {', '.join(RECORD_TYPES)}).",
            "NONEXISTENT_ID",
        )


async def _write(
    request: Request,
    op: Callable[[_Ctx, dict[str, Any]], tuple[str, int | None, int]],
    body_required: bool = True,
) -> Response:
    if request.query_params:
        unknown = sorted(set(request.query_params) - {"replace"})
        if unknown:
            raise _bad(f"Invalid query parameter '{unknown[0]}'.")
    req = _WriteRequest(
        method=request.method,
        path=request.url.path,
        rtype=request.path_params.get("rtype", ""),
        rid=request.path_params.get("rid"),
        raw_body=await request.body(),
        idem_key=request.headers.get("x-netsuite-idempotency-key"),
        if_match=request.headers.get("if-match"),
        base=_base(request),
        body_required=body_required and request.method != "DELETE",
    )
    if req.idem_key is not None and not 1 <= len(req.idem_key) <= 128:
        raise _bad("The X-NetSuite-Idempotency-Key header must be 1 to 128 characters.")
    status, location = await run_in_threadpool(_do_write, request.app.state.paths, req, op)
    headers = {"Location": location} if location else {}
    return Response(status_code=status, headers=headers)


def _existing(ctx: _Ctx, rtype: str, rid: str, if_match: str | None) -> int:
    found = resolve_id(ctx.con, rtype, rid)
    if found is None:
        raise _not_found()
    _check_if_match(ctx.con, rtype, found, if_match)
    return found


async def collection_endpoint(request: Request) -> Response:
    """`POST /services/rest/record/v1/<type>`: create a record."""
    rtype = request.path_params["rtype"]
    _check_type(rtype)

    def op(ctx: _Ctx, body: dict[str, Any]) -> tuple[str, int | None, int]:
        if rtype == "customer":
            return rtype, write_customer(ctx, None, body), 204
        return rtype, write_transaction(ctx, rtype, None, body), 204

    return await _write(request, op)


async def instance_endpoint(request: Request) -> Response:
    """`GET|PATCH|PUT|DELETE /services/rest/record/v1/<type>/<id or eid:ext>`."""
    rtype = request.path_params["rtype"]
    rid = request.path_params["rid"]
    _check_type(rtype)
    method = request.method
    if method == "GET":
        return await _get(request, rtype, rid)
    if method == "PUT" and not rid.startswith("eid:"):
        raise _bad(
            "PUT is only supported as an upsert by external ID: use "
            f"{RECORD_PREFIX}/{rtype}/eid:<externalId>, or PATCH to update by internal ID.",
            "INVALID_REQUEST",
        )
    if rid.startswith("eid:") and not rid[4:]:
        raise _bad("The external ID after 'eid:' is empty.", "INVALID_ID")
    if_match = request.headers.get("if-match")

    def write(ctx: _Ctx, found: int | None, body: dict[str, Any]) -> int:
        if rtype == "customer":
            return write_customer(ctx, found, body)
        return write_transaction(ctx, rtype, found, body)

    def op(ctx: _Ctx, body: dict[str, Any]) -> tuple[str, int | None, int]:
        if method == "PUT":
            ext = rid[4:]
            if "externalId" in body and body["externalId"] != ext:
                raise _bad("The externalId in the body differs from the one in the URL.")
            body = {**body, "externalId": ext}
            found = resolve_id(ctx.con, rtype, rid)
            if found is not None:
                _check_if_match(ctx.con, rtype, found, if_match)
            elif if_match is not None and if_match.strip() != "*":
                raise _check_missing_if_match()
            return rtype, write(ctx, found, body), 204
        found = _existing(ctx, rtype, rid, if_match)
        if method == "PATCH":
            return rtype, write(ctx, found, body), 204
        if rtype == "customer":
            delete_customer(ctx, found)
        else:
            delete_transaction(ctx, rtype, found)
        return rtype, found, 204

    return await _write(request, op)


def _check_missing_if_match() -> NetSuiteError:
    return NetSuiteError(
        412, "If-Match was sent but the record does not exist.", "PRECONDITION_FAILED"
    )


async def transform_endpoint(request: Request) -> Response:
    """`POST /services/rest/record/v1/invoice/<id>/!transform/creditmemo`."""
    rtype = request.path_params["rtype"]
    target = request.path_params["target"]
    rid = request.path_params["rid"]
    _check_type(rtype)
    if rtype != "invoice" or target != "creditmemo":
        raise _bad(
            f"The transformation from '{rtype}' to '{target}' is not supported by the sandbox "
            "(supported: invoice to creditmemo).",
            "INVALID_TRANSFORM",
        )
    if_match = request.headers.get("if-match")

    def op(ctx: _Ctx, body: dict[str, Any]) -> tuple[str, int | None, int]:
        found = _existing(ctx, "invoice", rid, if_match)
        return "creditmemo", transform_to_creditmemo(ctx, found, body), 204

    # A transform may come without a body: every field then takes its default.
    return await _write(request, op, body_required=False)


def _get_sync(paths: SandboxPaths, rtype: str, rid: str, base: str) -> tuple[dict[str, Any], int]:
    con = connect(paths)
    con.row_factory = sqlite3.Row
    try:
        con.execute("BEGIN")
        found = resolve_id(con, rtype, rid)
        record = read_record(con, base, rtype, found) if found is not None else None
        if record is None or found is None:
            raise _not_found()
        version = _version(con, rtype, found)
        con.execute("COMMIT")
        return record, version
    finally:
        con.close()


async def _get(request: Request, rtype: str, rid: str) -> Response:
    unknown = sorted(set(request.query_params) - {"expandSubResources"})
    if unknown:
        raise _bad(f"Invalid query parameter '{unknown[0]}'.")
    expand = request.query_params.get("expandSubResources", "false").lower()
    if expand not in ("true", "false"):
        raise _bad("Invalid value for the parameter 'expandSubResources': use true or false.")
    record, version = await run_in_threadpool(
        _get_sync, request.app.state.paths, rtype, rid, _base(request)
    )
    return json_response(record, headers={"ETag": f'"{version}"'})
