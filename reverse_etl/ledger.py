"""The write-back ledger, durable in the warehouse (schema `writeback_ledger`, on DuckDB or
Snowflake: the SQL here runs on both through `reverse_etl.warehouse`).

Tables:

- `items`: one row per correction, its latest plan (decision, reason, the exact request, the
  checks that tell it landed), approval and status
  (`ready`, `awaiting_approval`, `in_flight`, `applied`, `skipped`, `refused`, `stale`,
  `rejected`, `failed`, `verified`, `escalated`).
- `attempts`: one row per write attempt, written `in_flight` *before* the request goes out and
  completed after, with before/after, result, ERP response, approver and timestamps; a crash
  leaves the `in_flight` row, which the next `apply` resolves by asking the ERP.
- `approvals`: who approved which exact write, and when.
- `runs`: every plan/approve/apply/verify run with its counts and the policy digest.

Secrets never reach it: requests are stored as method, path and body only. JSON documents are
`json` columns on DuckDB and `varchar` on Snowflake, written and read as JSON text.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from closeloop.settings import Settings
from reverse_etl.client import dumps, loads
from reverse_etl.plan import APPLY, APPROVAL, REFUSED, SKIP, Check, PlanItem
from reverse_etl.warehouse import Warehouse

SCHEMA = "writeback_ledger"
#: Most ids bound in one `in (...)` list.
IN_CHUNK = 500
#: Statuses after which a correction is never written again.
DONE = ("applied", "verified", "escalated")
_STATUS_OF = {APPLY: "ready", APPROVAL: "awaiting_approval", SKIP: "skipped", REFUSED: "refused"}

_DDL = """
create schema if not exists {schema};
create table if not exists {schema}.items (
    correction_id varchar not null,
    exception_id varchar,
    exception_type varchar,
    record_type varchar,
    action varchar,
    erp_id varchar,
    external_id varchar,
    field varchar,
    current_value varchar,
    desired_value varchar,
    amount_delta_usd decimal(18, 2),
    decision varchar,
    reason varchar,
    parent_id varchar,
    method varchar,
    path varchar,
    body {json},
    if_match varchar,
    idempotency_key varchar,
    checks {json},
    before {json},
    fingerprint varchar,
    status varchar,
    approved_by varchar,
    approved_at {timestamp},
    plan_run_id varchar,
    planned_at {timestamp},
    applied_at {timestamp},
    verified_at {timestamp},
    note varchar
);
create table if not exists {schema}.attempts (
    attempt_id varchar not null,
    correction_id varchar not null,
    run_id varchar,
    attempt_no integer,
    started_at {timestamp},
    finished_at {timestamp},
    method varchar,
    path varchar,
    idempotency_key varchar,
    if_match varchar,
    before {json},
    after {json},
    result varchar,
    http_status integer,
    erp_response {json},
    approver varchar
);
create table if not exists {schema}.approvals (
    correction_id varchar not null,
    fingerprint varchar,
    approved_by varchar not null,
    approved_at {timestamp} not null,
    run_id varchar
);
create table if not exists {schema}.runs (
    run_id varchar not null,
    kind varchar not null,
    started_at {timestamp},
    finished_at {timestamp},
    actor varchar,
    policy_sha varchar,
    status varchar,
    summary {json}
);
"""


def now() -> datetime:
    """The current UTC time (ledger timestamps are wall time: they record what people did)."""
    return datetime.now(UTC)


def new_id(prefix: str) -> str:
    """A unique id such as `run-1f2e...`."""
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


def _json(value: Any) -> str | None:
    return None if value is None else dumps(value)


def _in_list(ids: list[str]) -> str:
    return "(" + ", ".join("?" for _ in ids) + ")"


def _chunks(ids: list[str]) -> list[list[str]]:
    return [ids[i : i + IN_CHUNK] for i in range(0, len(ids), IN_CHUNK)]


class Ledger:
    """The ledger over one warehouse connection (DuckDB allows one writing process at a time).

    Args:
        path: a DuckDB warehouse file (`Settings.duckdb_path`).
        con: an open connection (DuckDB or Snowflake) or `Warehouse` to use instead (the
            caller closes it).
    """

    def __init__(self, path: Path | str | None = None, con: Any = None) -> None:
        if con is None:
            if path is None:
                raise ValueError("Ledger needs a warehouse path or a connection")
            self.wh = Warehouse.duckdb(path)
        else:
            self.wh = Warehouse.wrap(con)
        self._setup()

    @classmethod
    def open(cls, settings: Settings) -> Ledger:
        """The ledger in the warehouse the settings name (DuckDB file or Snowflake)."""
        ledger = cls.__new__(cls)
        ledger.wh = Warehouse.connect(settings)
        ledger._setup()
        return ledger

    def _setup(self) -> None:
        # one connection, used from the apply worker threads too
        self.lock: threading.RLock = self.wh.lock
        self.con = self.wh.con
        with self.lock:
            self.wh.script(
                _DDL.format(
                    schema=SCHEMA,
                    json=self.wh.json_type,
                    timestamp="timestamptz" if self.wh.kind == "duckdb" else "timestamp_tz",
                )
            )

    def close(self) -> None:
        """Checkpoint and close (only a connection this object opened)."""
        self.wh.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- runs -------------------------------------------------------------------------------

    def start_run(self, kind: str, actor: str | None, policy_sha: str | None) -> str:
        """Record the start of a run; returns its id."""
        run_id = new_id(kind)
        with self.lock:
            self.wh.execute(
                f"insert into {SCHEMA}.runs (run_id, kind, started_at, actor, policy_sha, status)"
                " values (?, ?, ?, ?, ?, 'running')",
                [run_id, kind, now(), actor, policy_sha],
            )
        return run_id

    def finish_run(self, run_id: str, status: str, summary: dict[str, Any]) -> None:
        """Record the end of a run with its counts."""
        with self.lock:
            self.wh.execute(
                f"update {SCHEMA}.runs set finished_at = ?, status = ?, summary = ? "
                "where run_id = ?",
                [now(), status, json.dumps(summary, default=str), run_id],
            )

    # -- plan -------------------------------------------------------------------------------

    def statuses(self) -> dict[str, str]:
        """correction_id -> status of every correction in the ledger."""
        with self.lock:
            rows = self.wh.query(f"select correction_id, status from {SCHEMA}.items")
        return {r[0]: r[1] for r in rows}

    def store_plan(self, items: Iterable[PlanItem], run_id: str) -> dict[str, int]:
        """Store a plan. Corrections already applied (or mid-write) keep their row untouched;
        an approval carries over only when the re-planned write is exactly the one approved.

        Returns:
            Counts by decision of the rows stored, plus `kept` (already done or in flight).
        """
        counts: dict[str, int] = {"kept": 0}
        at = now()
        with self.lock:
            existing = self.statuses()
            approvals = {
                (r[0], r[1]): (r[2], r[3])
                for r in self.wh.query(
                    f"select correction_id, fingerprint, approved_by, approved_at "
                    f"from {SCHEMA}.approvals order by approved_at"
                )
            }
            rows = []
            replace = []
            for item in items:
                status = existing.get(item.correction_id)
                if status in (*DONE, "in_flight"):
                    counts["kept"] += 1
                    continue
                approved = approvals.get((item.correction_id, item.fingerprint))
                new_status = _STATUS_OF[item.decision]
                if item.decision == APPROVAL and approved is not None:
                    new_status = "ready"
                counts[item.decision] = counts.get(item.decision, 0) + 1
                replace.append(item.correction_id)
                rows.append(
                    [
                        item.correction_id, item.exception_id, item.exception_type,
                        item.record_type, item.action, item.erp_id, item.external_id, item.field,
                        item.current_value, item.desired_value, item.amount_delta_usd,
                        item.decision, item.reason, item.parent_id, item.method, item.path,
                        _json(item.body), item.if_match, item.idempotency_key,
                        _json([c.__dict__ for c in item.checks]), _json(item.before),
                        item.fingerprint, new_status,
                        approved[0] if approved and item.decision == APPROVAL else None,
                        approved[1] if approved and item.decision == APPROVAL else None,
                        run_id, at,
                    ]
                )  # fmt: skip
            self.wh.execute("begin")
            try:
                for chunk in _chunks(replace):
                    self.wh.execute(
                        f"delete from {SCHEMA}.items where correction_id in {_in_list(chunk)}",
                        chunk,
                    )
                if rows:
                    self.wh.executemany(
                        f"insert into {SCHEMA}.items (correction_id, exception_id, "
                        "exception_type, record_type, action, erp_id, external_id, field, "
                        "current_value, desired_value, amount_delta_usd, decision, reason, "
                        "parent_id, method, path, body, if_match, idempotency_key, checks, "
                        "before, fingerprint, status, approved_by, approved_at, plan_run_id, "
                        "planned_at) values (" + ", ".join(["?"] * 27) + ")",
                        rows,
                    )
                self.wh.execute("commit")
            except BaseException:
                self.wh.execute("rollback")
                raise
        return counts

    def items(self, where: str = "true", params: list[Any] | None = None) -> list[dict[str, Any]]:
        """Ledger items as dicts (JSON columns parsed), ordered by correction id."""
        found = self.wh.records(
            f"select * from {SCHEMA}.items where {where} order by correction_id", params or []
        )
        out = []
        for d in found:
            for key in ("body", "checks", "before"):
                if d[key] is not None:
                    d[key] = loads(d[key])
            out.append(d)
        return out

    # -- approval ---------------------------------------------------------------------------

    def approve(
        self, ids: list[str] | None, exception_type: str | None, approver: str, run_id: str
    ) -> tuple[list[str], list[str]]:
        """Approve corrections awaiting approval, by id or by exception type.

        Returns:
            (approved ids, ids that could not be approved with the reason in the text).
        """
        if not approver.strip():
            raise ValueError("an approval needs an approver")
        with self.lock:
            if ids:
                found = [
                    i
                    for chunk in _chunks(list(ids))
                    for i in self.items(f"correction_id in {_in_list(chunk)}", chunk)
                ]
            else:
                found = self.items("exception_type = ?", [exception_type])
            by_id = {i["correction_id"]: i for i in found}
            approved, problems = [], []
            wanted = ids if ids else list(by_id)
            at = now()
            for cid in wanted:
                item = by_id.get(cid)
                if item is None:
                    problems.append(f"{cid}: no such correction in the plan")
                    continue
                if item["status"] != "awaiting_approval":
                    if ids:
                        problems.append(f"{cid}: is {item['status']}, not awaiting approval")
                    continue
                self.wh.execute(
                    f"insert into {SCHEMA}.approvals (correction_id, fingerprint, approved_by, "
                    "approved_at, run_id) values (?, ?, ?, ?, ?)",
                    [cid, item["fingerprint"], approver, at, run_id],
                )
                self.wh.execute(
                    f"update {SCHEMA}.items set status = 'ready', approved_by = ?, "
                    "approved_at = ? where correction_id = ?",
                    [approver, at, cid],
                )
                approved.append(cid)
        return approved, problems

    # -- apply ------------------------------------------------------------------------------

    def to_apply(self) -> list[dict[str, Any]]:
        """Items to write: ready ones, and those a crash or an outage left unresolved."""
        return self.items("status in ('ready', 'in_flight', 'failed') and method is not null")

    def accepted_exceptions(self) -> set[str]:
        """Exceptions accepted as they are (`closeloop exceptions accept`): the latest accept or
        reopen of each in the exception actions table is an accept. Empty when no action was
        ever recorded here (the table is created by the first dbt build or action)."""
        table = self.wh.find_model("exception_actions")
        if table is None:
            return set()
        rows = self.wh.query(
            "select exception_id from (select exception_id, action, row_number() over "
            "(partition by exception_id order by recorded_at desc) as recency "
            f"from {table} where action in ('accept', 'reopen')) as latest "
            "where recency = 1 and action = 'accept'"
        )
        return {str(r[0]) for r in rows}

    def skip_accepted(self, correction_id: str) -> None:
        """A correction whose exception was accepted after it was planned is never written."""
        with self.lock:
            self.wh.execute(
                f"update {SCHEMA}.items set status = 'skipped', note = ? "
                "where correction_id = ? and status = 'ready'",
                [
                    "its exception was accepted after the plan (closeloop exceptions accept): "
                    "not written",
                    correction_id,
                ],
            )

    def attempts_of(self, correction_id: str) -> int:
        """How many attempts a correction has had."""
        with self.lock:
            rows = self.wh.query(
                f"select count(*) from {SCHEMA}.attempts where correction_id = ?", [correction_id]
            )
        return int(rows[0][0]) if rows else 0

    def begin_attempt(self, item: dict[str, Any], run_id: str, approver: str) -> str:
        """Durably record that a write is about to go out (before it does)."""
        attempt_id = new_id("att")
        with self.lock:
            n = self.attempts_of(item["correction_id"]) + 1
            self.wh.execute("begin")
            self.wh.execute(
                f"insert into {SCHEMA}.attempts (attempt_id, correction_id, run_id, attempt_no, "
                "started_at, method, path, idempotency_key, if_match, before, after, result, "
                "approver) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'in_flight', ?)",
                [
                    attempt_id, item["correction_id"], run_id, n, now(), item["method"],
                    item["path"], item["idempotency_key"], item["if_match"],
                    _json(item["before"]), _json(item["body"]), approver,
                ],
            )  # fmt: skip
            self.wh.execute(
                f"update {SCHEMA}.items set status = 'in_flight' where correction_id = ?",
                [item["correction_id"]],
            )
            self.wh.execute("commit")
        return attempt_id

    def end_attempt(
        self,
        attempt_id: str,
        correction_id: str,
        result: str,
        status: str,
        http_status: int | None,
        response: dict[str, Any] | None,
        note: str | None = None,
    ) -> None:
        """Record how an attempt ended and move the correction to its new status."""
        at = now()
        with self.lock:
            self.wh.execute("begin")
            self.wh.execute(
                f"update {SCHEMA}.attempts set finished_at = ?, result = ?, http_status = ?, "
                "erp_response = ? where attempt_id = ?",
                [at, result, http_status, _json(response), attempt_id],
            )
            if status == "applied":
                self.wh.execute(
                    f"update {SCHEMA}.items set status = ?, note = ?, applied_at = ? "
                    "where correction_id = ?",
                    [status, note, at, correction_id],
                )
            else:
                self.wh.execute(
                    f"update {SCHEMA}.items set status = ?, note = ? where correction_id = ?",
                    [status, note, correction_id],
                )
            self.wh.execute("commit")

    def resolve_in_flight(self, correction_id: str, landed: bool) -> None:
        """Close attempts a crash left open: `landed` or `lost` as the ERP's state says."""
        with self.lock:
            self.wh.execute(
                f"update {SCHEMA}.attempts set finished_at = ?, result = ? "
                "where correction_id = ? and result = 'in_flight'",
                [now(), "landed_response_lost" if landed else "not_landed", correction_id],
            )

    # -- verify -----------------------------------------------------------------------------

    def mark_verified(self, correction_id: str, verified: bool, note: str) -> None:
        """`verified` when its exception is gone from recon_exceptions, else `escalated`."""
        with self.lock:
            self.wh.execute(
                f"update {SCHEMA}.items set status = ?, verified_at = ?, note = ? "
                "where correction_id = ?",
                ["verified" if verified else "escalated", now(), note, correction_id],
            )

    def summary(self) -> dict[str, int]:
        """Number of corrections by status."""
        with self.lock:
            rows = self.wh.query(
                f"select status, count(*) from {SCHEMA}.items group by status order by status"
            )
        return {r[0]: int(r[1]) for r in rows}


def rows_query(table: str, column: str, value: str) -> str:
    """The SQL listing a run's ledger rows (shown to people, e.g. in the Dagster UI)."""
    return f"select * from {SCHEMA}.{table} where {column} = '{value}'"


def verify_rows_query() -> str:
    """The SQL listing the verified and escalated ledger rows."""
    return f"select * from {SCHEMA}.items where status in ('verified', 'escalated')"


def checks_from_json(value: Any) -> list[Check]:
    """The stored checks of an item."""
    return [Check(**c) for c in (value or [])]


def as_decimal(value: Any) -> Decimal | None:
    """A ledger amount as Decimal."""
    return None if value is None else Decimal(str(value))
