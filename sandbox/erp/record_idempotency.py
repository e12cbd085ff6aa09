"""One record write, once: its transaction, idempotency key, write log and unapplied log."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sandbox.erp.core import NetSuiteError, connect, loads, read_clock
from sandbox.erp.record_common import MAX_BODY_BYTES, _bad, _Ctx, _row
from sandbox.schema import ERP_INTERNAL_DDL, SandboxPaths


# The body is parsed here, inside the write's transaction and after the idempotency key is
# looked up, so that a replay answers as the first request did.
def _parse_body(raw: bytes, required: bool = True) -> dict[str, Any]:
    if len(raw) > MAX_BODY_BYTES:
        raise NetSuiteError(413, "The request body is too large.", "INVALID_CONTENT")
    if not raw.strip():
        if required:
            raise _bad("The request body is empty: send the record as a JSON object.")
        return {}
    try:
        body = loads(raw)
    except ValueError:
        raise _bad(
            "Invalid content in the request body: not valid JSON.", "INVALID_CONTENT"
        ) from None
    if not isinstance(body, dict):
        raise _bad("Invalid content in the request body: expected a JSON object.")
    return body


@dataclass
class _WriteRequest:
    method: str
    path: str
    rtype: str
    rid: str | None
    raw_body: bytes
    idem_key: str | None
    if_match: str | None
    base: str
    body_required: bool


def _log_unapplied(
    paths: SandboxPaths, req: _WriteRequest, now: str, status: int, outcome: str
) -> None:
    con = connect(paths)
    try:
        # A database generated before this table existed gets it now.
        con.executescript(ERP_INTERNAL_DDL)
        con.execute(
            "insert into _write_unapplied (at, method, path, idempotency_key, request_body, "
            "status, outcome) values (?, ?, ?, ?, ?, ?, ?)",
            (now, req.method, req.path, req.idem_key, req.raw_body.decode("utf-8", "replace"),
             status, outcome),
        )  # fmt: skip
    finally:
        con.close()


def _fingerprint(method: str, path: str, body: str) -> str:
    return hashlib.sha256(f"{method} {path} {body}".encode()).hexdigest()


def _do_write(
    paths: SandboxPaths,
    req: _WriteRequest,
    op: Callable[[_Ctx, dict[str, Any]], tuple[str, int | None, int]],
) -> tuple[int, str | None]:
    """Run one write in a transaction: idempotency, the operation, versions, the write log."""
    now = read_clock(paths).strftime("%Y-%m-%d %H:%M:%S")
    con = connect(paths)
    con.row_factory = sqlite3.Row
    body_text = req.raw_body.decode("utf-8", "replace")
    try:
        con.execute("BEGIN IMMEDIATE")
        if req.idem_key is not None:
            prior = _row(
                con, "select status, location from _idempotency where key=?", (req.idem_key,)
            )
            if prior is not None:
                first = _row(
                    con,
                    "select method, path, request_body from _write_log where idempotency_key=? "
                    "order by seq limit 1",
                    (req.idem_key,),
                )
                if first is not None and _fingerprint(*first) != _fingerprint(
                    req.method, req.path, body_text
                ):
                    raise _bad(
                        "The idempotency key was already used for a different request.",
                        "INVALID_PARAMETER",
                    )
                con.execute("ROLLBACK")
                _log_unapplied(paths, req, now, int(prior[0]), "replayed")
                return int(prior[0]), prior[1]
        ctx = _Ctx(con, now, req.base)
        body = _parse_body(req.raw_body, required=req.body_required)
        if req.method == "DELETE" and body:
            raise _bad("A DELETE request takes no body.")
        rtype, rec_id, status = op(ctx, body)
        location = ctx.url(rtype, rec_id) if rec_id is not None and req.method != "DELETE" else None
        ext = None
        if rec_id is not None and req.method != "DELETE":
            table = "customer" if rtype == "customer" else "transaction"
            ext = _row(con, f'select externalid from "{table}" where id=?', (rec_id,))[0]
        con.execute(
            "insert into _write_log (at, method, path, record_type, record_id, external_id, "
            "idempotency_key, request_body, status) values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (now, req.method, req.path, rtype, rec_id, ext, req.idem_key, body_text, status),
        )
        if req.idem_key is not None:
            con.execute(
                "insert into _idempotency (key, status, location, at) values (?, ?, ?, ?)",
                (req.idem_key, status, location, now),
            )
        con.execute("COMMIT")
        return status, location
    except NetSuiteError as exc:
        if con.in_transaction:
            con.execute("ROLLBACK")
        _log_unapplied(paths, req, now, exc.status, "rejected")
        raise
    except BaseException:
        if con.in_transaction:
            con.execute("ROLLBACK")
        raise
    finally:
        con.close()
