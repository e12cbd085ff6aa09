"""Helpers of the reverse ETL tests: corrections built from the sandbox's ground truth, a served
ERP with switchable faults, and counts read straight from erp.sqlite."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from reverse_etl.client import RecordClient, RetryPolicy
from reverse_etl.corrections import Correction
from reverse_etl.policy import Policy, load_policy
from sandbox.defaults import SANDBOX_DEFAULT_TOKENS
from sandbox.erp import create_app
from sandbox.http_common import FaultConfig, SandboxMiddleware, wrap
from sandbox.schema import SandboxPaths
from sandbox.testing import serve

TOKEN = SANDBOX_DEFAULT_TOKENS["erp"]
CURRENCY_IDS = {"USD": "1", "EUR": "2", "GBP": "3", "JPY": "4"}
#: The record API's name of each SuiteQL field the ground truth names.
RECORD_FIELD = {"foreigntotal": "total", "currency": "currency"}
SUBSIDIARY_OF_CURRENCY = {"USD": "1", "EUR": "2", "GBP": "3", "JPY": "4"}


def fast_policy(**changes: Any) -> Policy:
    """The repository's policy, with quick retries and no client-side throttle for tests."""
    base = dataclasses.replace(
        load_policy(),
        requests_per_second=1000.0,
        backoff_seconds=0.01,
        max_backoff_seconds=0.05,
        max_attempts=12,
    )
    return dataclasses.replace(base, **changes)


def client_for(base_url: str, policy: Policy) -> RecordClient:
    """An ERP client as `apply` builds it."""
    return RecordClient(
        base_url=base_url,
        token=TOKEN,
        rate_per_second=policy.requests_per_second,
        retry=RetryPolicy(policy.max_attempts, policy.backoff_seconds, policy.max_backoff_seconds),
    )


@contextlib.contextmanager
def erp_served(
    home: Path, faults: FaultConfig | None = None, lose_every: int = 0
) -> Iterator[tuple[str, SandboxMiddleware]]:
    """Serve the ERP of the sandbox under `home`; yields (base URL, middleware with `.faults`).

    `lose_every=n` loses the answer of every n-th write after the ERP committed it.
    """
    inner: Any = create_app(SandboxPaths.under(home))
    if lose_every:
        inner = LoseAnswers(inner, lose_every)
    app = wrap(inner, system="erp", token=TOKEN, faults=faults)
    with serve(app) as base:
        yield str(base), app


class LoseAnswers:
    """Runs every `every`-th record write, then closes the connection without an answer.

    The sandbox's `drop` fault cuts a response body, and a 204 has none, so it cannot lose a
    write's answer; this wrapper does what a proxy dying after the commit would.
    """

    def __init__(self, app: Any, every: int = 2) -> None:
        self.app = app
        self.every = every
        self.writes = 0
        self.lost = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        is_write = (
            scope["type"] == "http"
            and scope["method"] in ("PUT", "PATCH", "POST", "DELETE")
            and "/record/v1/" in scope["path"]
        )
        if not is_write:
            await self.app(scope, receive, send)
            return
        self.writes += 1
        if self.writes % self.every:
            await self.app(scope, receive, send)
            return

        async def swallow(message: Any) -> None:
            return None

        await self.app(scope, receive, swallow)
        self.lost += 1
        raise ConnectionResetError("answer lost after the write")


def erp_db(home: Path) -> sqlite3.Connection:
    """A connection to the sandbox's erp.sqlite."""
    con = sqlite3.connect(SandboxPaths.under(home).erp)
    con.row_factory = sqlite3.Row
    return con


def write_log_count(home: Path) -> int:
    """Writes that landed in the ERP (the sandbox's `_write_log`)."""
    with contextlib.closing(erp_db(home)) as con:
        return int(con.execute("select count(*) from _write_log").fetchone()[0])


def writes_per_key(home: Path) -> dict[str, int]:
    """Landed writes per idempotency key."""
    with contextlib.closing(erp_db(home)) as con:
        rows = con.execute(
            "select idempotency_key, count(*) from _write_log group by idempotency_key"
        ).fetchall()
    return {r[0]: int(r[1]) for r in rows}


def truth(home: Path) -> list[dict[str, Any]]:
    """The sandbox's ground truth entries."""
    path = SandboxPaths.under(home).root / "ground_truth.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _period_closed(con: sqlite3.Connection, txn_id: str) -> bool:
    row = con.execute(
        'select p.closed from "transaction" t join accountingperiod p on p.id = t.postingperiod '
        "where t.id = ?",
        (int(txn_id),),
    ).fetchone()
    return row is not None and row[0] == "T"


def _major(amount: int, currency: str) -> Decimal:
    return Decimal(amount) if currency.upper() == "JPY" else Decimal(amount) / 100


def _day(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).date().isoformat()


def truth_corrections(home: Path, *, closed: bool | None = False) -> list[Correction]:
    """Corrections a reconciliation would propose for the injected discrepancies.

    Args:
        home: the sandbox home.
        closed: False: only transactions in open periods (and customers); True: only
            closed-period ones; None: all.
    """
    paths = SandboxPaths.under(home)
    erp = erp_db(home)
    billing = sqlite3.connect(paths.billing)
    crm = sqlite3.connect(paths.crm)
    out: list[Correction] = []
    for t in truth(home):
        etype, erp_id = t["exception_type"], t["erp_id"]
        base = {
            "correction_id": f"corr-{t['id']}",
            "exception_id": t["id"],
            "exception_type": etype,
        }
        if erp_id is not None and etype != "customer_attribute_mismatch":
            is_closed = _period_closed(erp, erp_id)
            if closed is not None and is_closed != closed:
                continue
        elif closed:
            continue
        value = {"current_value": t["wrong_value"], "desired_value": t["correct_value"]}
        delta = None
        if t["correct_value"] and t["wrong_value"] and t["field"] == "foreigntotal":
            delta = abs(Decimal(t["correct_value"]) - Decimal(t["wrong_value"]))
        if etype == "customer_attribute_mismatch":
            out.append(Correction(**base, record_type="customer", action="update", erp_id=erp_id,
                                  field="companyname", record_field="companyName",
                                  **value))  # fmt: skip
        elif etype in ("invoice_amount_mismatch", "invoice_currency_mismatch"):
            out.append(Correction(**base, record_type="invoice", action="update", erp_id=erp_id,
                                  field=t["field"], amount_delta_usd=delta,
                                  record_field=RECORD_FIELD[t["field"]], **value))  # fmt: skip
        elif etype == "invoice_status_mismatch":
            out.append(Correction(**base, record_type="invoice", action="update", erp_id=erp_id,
                                  field="status", record_field="status", **value))  # fmt: skip
        elif etype == "payment_amount_mismatch":
            out.append(Correction(**base, record_type="customerpayment", action="update",
                                  erp_id=erp_id, field="foreigntotal", record_field="payment",
                                  amount_delta_usd=delta,
                                  **value))  # fmt: skip
        elif etype == "invoice_duplicate_in_erp":
            out.append(Correction(**base, record_type="invoice", action="delete", erp_id=erp_id))
        elif etype == "customer_missing_in_erp" and closed is not True:
            name = crm.execute('select "Name" from "Account" where "Id" = ?', (t["crm_id"],))
            cus = json.loads(
                billing.execute(
                    "select doc from customers where id = ?", (t["billing_id"],)
                ).fetchone()[0]
            )
            cur = cus["currency"].upper()
            payload = {
                "companyName": name.fetchone()[0],
                "email": cus["email"],
                "subsidiary": {"id": SUBSIDIARY_OF_CURRENCY[cur]},
                "currency": {"id": CURRENCY_IDS[cur]},
            }
            out.append(Correction(**base, record_type="customer", action="create",
                                  external_id=t["crm_id"], payload=payload))  # fmt: skip
        elif etype == "invoice_missing_in_erp" and t["caused_by"] is None:
            payload = _invoice_payload(billing, erp, t["billing_id"])
            if payload is None:
                continue
            is_closed = _month_closed(erp, payload["tranDate"])
            if closed is not None and is_closed != closed:
                continue
            out.append(Correction(**base, record_type="invoice", action="create",
                                  external_id=t["billing_id"], payload=payload))  # fmt: skip
    return out


def _month_closed(erp: sqlite3.Connection, day: str) -> bool:
    row = erp.execute(
        "select closed from accountingperiod where startdate <= ? and enddate >= ? "
        "and isyear = 'F' and isquarter = 'F'",
        (day, day),
    ).fetchone()
    return row is not None and row[0] == "T"


def _invoice_payload(
    billing: sqlite3.Connection, erp: sqlite3.Connection, invoice_id: str
) -> dict[str, Any] | None:
    inv = json.loads(
        billing.execute("select doc from invoices where id = ?", (invoice_id,)).fetchone()[0]
    )
    cus = json.loads(
        billing.execute("select doc from customers where id = ?", (inv["customer"],)).fetchone()[0]
    )
    account = cus.get("metadata", {}).get("crm_account_id")
    row = erp.execute("select id from customer where externalid = ?", (account,)).fetchone()
    if row is None:
        return None
    cur = inv["currency"].upper()
    lines = []
    for (doc,) in billing.execute(
        "select doc from invoice_lines where invoice = ? order by seq", (invoice_id,)
    ):
        line = json.loads(doc)
        lines.append(
            {
                "item": {"externalId": line["price"]["product"]},
                "quantity": line["quantity"],
                "amount": _major(line["amount"], cur),
                "description": line["description"],
            }
        )
    return {
        "entity": {"id": str(row[0])},
        "currency": {"id": CURRENCY_IDS[cur]},
        "tranDate": _day(inv["status_transitions"]["finalized_at"]),
        "otherRefNum": invoice_id,
        "item": {"items": lines},
    }


def assert_same_plan(batched: list[Any], per_record: list[Any], client: RecordClient) -> None:
    """Batched and per-record plans hold the same items: decisions, reasons, requests,
    bodies, checks, before. An item the batch planned carries, instead of the ETag (and the key
    derived from it), the values it read (`unchanged:`), which must be what the record API
    shows of the record now."""
    from reverse_etl.client import loads
    from reverse_etl.plan import UNCHANGED_PREFIX, changed_fields

    assert [i.correction_id for i in batched] == [i.correction_id for i in per_record]
    for b, p in zip(batched, per_record, strict=True):
        got, want = b.as_dict(), p.as_dict()
        token = b.if_match or ""
        if token.startswith(UNCHANGED_PREFIX):
            assert p.if_match and not p.if_match.startswith(UNCHANGED_PREFIX)
            planned = loads(token.removeprefix(UNCHANGED_PREFIX))
            parts = (b.path or "").split("/")
            live = client.get(parts[5], parts[6])
            assert live is not None and changed_fields(live.body, planned) == [], b.correction_id
            for key in ("if_match", "idempotency_key"):
                got.pop(key), want.pop(key)
        assert got == want, b.correction_id
