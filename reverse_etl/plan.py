"""Plan: check each correction against the policy and the ERP's live record, decide what to do.

Every correction gets one decision with a reason: `apply` (policy allows it automatically),
`skip` (the ERP already holds the desired state), `approval` (allowed, but a person must approve
it first) or `refused` (the policy forbids it; nothing will ever be written for it). A
correction refused because its transaction sits in a closed accounting period may bring a
proposed adjusting document (a credit memo, an invoice or payment in an open period) as a
second plan item that needs approval.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from reverse_etl.client import RECORD_PREFIX, ErpError, ErpResponse, RecordClient, dumps
from reverse_etl.corrections import Correction
from reverse_etl.policy import Policy
from reverse_etl.records import RECORD_TYPES, quantize

log = logging.getLogger(__name__)

APPLY, SKIP, APPROVAL, REFUSED = "apply", "skip", "approval", "refused"
#: Apply order: customers before the transactions that reference them, invoices before the
#: payments and credits applied to them.
PHASES = {"customer": 0, "invoice": 1, "creditmemo": 2, "customerpayment": 2}
#: Fields a closed posting period freezes (NetSuite: amounts, lines, date, currency, customer).
FINANCIAL_FIELDS = frozenset(
    {"entity", "customer", "tranDate", "currency", "exchangeRate", "postingPeriod", "item",
     "apply", "payment"}
)  # fmt: skip
#: SuiteQL `transaction.type` of each transaction record type (the record API's `eid:` lookup
#: matches the external id within one type: an invoice and a payment may share one).
TRANSACTION_TYPES = {"invoice": "CustInvc", "customerpayment": "CustPymt", "creditmemo": "CustCred"}
#: External ids named in one existence query. NetSuite reads up to 1,000 rows a page; the
#: sandbox compiles `IN (...)` to a chain of ORs and SQLite refuses expression trees deeper
#: than 1,000, so well under both.
EXISTS_CHUNK = 400
#: Most characters of quoted ids in one existence query (a bounded query text).
EXISTS_CHUNK_CHARS = 60_000
#: Longest external id looked up in a batch (the sandbox's `externalId` holds at most 300
#: characters); a longer one keeps its per-record GET.
MAX_BATCHED_ID = 300
#: Characters an `eid:` record path cannot carry as they are (`/`, `?`, `#` cut the path,
#: `%` is read as an escape), so the per-record GET of such an id asks about another id. An
#: id holding one keeps that GET, so the plan's answer stays the one it always was.
_UNBATCHABLE = frozenset("/?#%")
#: Internal ids named in one batched read of records (the same bound as the existence query).
READ_CHUNK = 400
#: Prefix of the version of an item planned from a batched read (no ETag at plan time): the
#: values, at the plan, of every field the read gave. Apply reads the record with one GET right
#: before the write, writes only if it still holds these values, with `If-Match` set to the
#: ETag of that GET (compare-and-set), else the item is `stale`.
UNCHANGED_PREFIX = "unchanged:"
#: What a batched read gives of each record: (SuiteQL column, record API path). An update whose
#: fields are not all here (an invoice's `item` sublist) reads its record with a GET.
CUSTOMER_COLUMNS = (
    ("entityid", "entityId"), ("companyname", "companyName"), ("externalid", "externalId"),
    ("email", "email"), ("subsidiary", "subsidiary.id"), ("currency", "currency.id"),
    ("custentity_cl_tax_id", "custentity_cl_tax_id"), ("isinactive", "isInactive"),
)  # fmt: skip
#: Transaction columns; the entity is `entity` on an invoice or credit memo and `customer` on
#: a payment, whose `foreigntotal` is `payment` (the others' `total`).
TRANSACTION_COLUMNS = (
    ("tranid", "tranId"), ("trandate", "tranDate"), ("entity", "entity.id"),
    ("currency", "currency.id"), ("foreigntotal", "total"),
    ("foreignamountunpaid", "amountRemaining"), ("status", "status.id"),
    ("postingperiod", "postingPeriod.id"), ("externalid", "externalId"),
    ("otherrefnum", "otherRefNum"), ("memo", "memo"),
)  # fmt: skip
_PAYMENT_PATHS = {"entity.id": "customer.id", "total": "payment"}


@dataclass
class Check:
    """One way to tell a correction is in the ERP: a record exists, is gone, or has values."""

    kind: str  # exists | absent | equals
    record_type: str
    ref: str  # internal id or eid:<externalId>
    fields: dict[str, str] = dataclasses.field(default_factory=dict)


@dataclass
class PlanItem:
    """The decision for one correction and, when it is to be written, the exact request."""

    correction_id: str
    exception_id: str
    exception_type: str
    record_type: str
    action: str
    decision: str
    reason: str
    erp_id: str | None = None
    external_id: str | None = None
    field: str | None = None
    current_value: str | None = None
    desired_value: str | None = None
    amount_delta_usd: Decimal | None = None
    method: str | None = None
    path: str | None = None
    body: Any = None
    if_match: str | None = None
    idempotency_key: str | None = None
    checks: list[Check] = dataclasses.field(default_factory=list)
    before: dict[str, Any] | None = None
    parent_id: str | None = None

    @property
    def phase(self) -> int:
        """Apply order of the record type written (customers first)."""
        written = self.path.split("/")[5] if self.path and self.path.count("/") >= 5 else ""
        return PHASES.get(written, PHASES.get(self.record_type, 3))

    @property
    def fingerprint(self) -> str:
        """What an approval is for: the exact write (a re-plan that changes it needs a new one)."""
        text = f"{self.method}|{self.path}|{dumps(self.body)}"
        return hashlib.sha256(text.encode()).hexdigest()[:24]

    def as_dict(self) -> dict[str, Any]:
        """Plain data (for printing and the ledger)."""
        return asdict(self)


def idempotency_key(
    correction_id: str, method: str, path: str, body: Any, version: str | None
) -> str:
    """A key derived from the correction and its target (record and version), stable across
    retries and restarts of the same plan, different for a re-planned write."""
    text = f"{correction_id}|{method}|{path}|{dumps(body)}|{version or ''}"
    return "cl-" + hashlib.sha256(text.encode()).hexdigest()[:40]


def _dec(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


#: Prefix of a version token read from `lastModifiedDate` (an ERP that sends no ETag).
MODIFIED_PREFIX = "lastModifiedDate="


def version_of(live: ErpResponse) -> str | None:
    """The record version for compare-and-set: its ETag, or (NetSuite itself sends none) its
    `lastModifiedDate`, which apply compares in a read just before the write; for a record
    read in a batch, the values read (`unchanged:`), which apply compares in its GET."""
    if isinstance(live, BatchedRead):
        return live.version
    if live.etag:
        return live.etag
    modified = live.body.get("lastModifiedDate") if isinstance(live.body, dict) else None
    return f"{MODIFIED_PREFIX}{modified}" if modified else None


@dataclass
class BatchedRead(ErpResponse):
    """A record as a batched SuiteQL read gives it: the fields of `paths`, in the record
    API's names and shapes (references as `{"id": ...}`, amounts as Decimal), no ETag."""

    paths: tuple[str, ...] = ()

    @property
    def version(self) -> str:
        """`unchanged:` and the values read, as JSON (the preconditions apply checks)."""
        record = self.body if isinstance(self.body, dict) else {}
        return UNCHANGED_PREFIX + dumps({p: get_path(record, p) for p in self.paths})


def batched_record(
    record_type: str, row: dict[str, Any], columns: tuple[tuple[str, str], ...] | None = None
) -> BatchedRead:
    """The record of one SuiteQL row (customer or transaction `columns`, every value a
    string): the fields read, in the record API's names and shapes."""
    if columns is None:
        columns = CUSTOMER_COLUMNS if record_type == "customer" else TRANSACTION_COLUMNS
    record: dict[str, Any] = {"id": str(row["id"])}
    paths = []
    for column, path in columns:
        if record_type == "customerpayment":
            if column in ("foreignamountunpaid", "status"):
                continue  # a payment's record shows neither
            path = _PAYMENT_PATHS.get(path, path)
        paths.append(path)
        value: Any = row.get(column)
        if value is None or value == "":
            continue
        if column in ("foreigntotal", "foreignamountunpaid"):
            value = _dec(value)
        elif column == "isinactive":
            value = value == "T"
        if path.endswith(".id"):
            record[path.removesuffix(".id")] = {"id": str(value)}
        else:
            record[path] = value
    return BatchedRead(200, record, paths=tuple(paths))


def _blank(value: Any) -> bool:
    return value is None or value == ""


def _flag(value: Any) -> Any:
    return ("T" if value else "F") if isinstance(value, bool) else value


def changed_fields(record: dict[str, Any], planned: dict[str, Any]) -> list[str]:
    """The fields of `planned` (path: value at the plan) whose value the record no longer
    holds: numbers compared as numbers, a flag as `T`/`F`, an empty text as absent."""
    moved = []
    for path, then in planned.items():
        now = _flag(get_path(record, path))
        then = _flag(then)
        if _blank(now) or _blank(then):
            if not (_blank(now) and _blank(then)):
                moved.append(path)
        elif not same_value(now, then):
            moved.append(path)
    return moved


def get_path(record: dict[str, Any], path: str) -> Any:
    """`status.id` of a record (None when any step is missing)."""
    value: Any = record
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def same_value(live: Any, wanted: Any) -> bool:
    """Equal as numbers when both are numbers (`1100.0` = `1100.00`), else as text."""
    a, b = _dec(live), _dec(wanted)
    if a is not None and b is not None:
        return a == b
    if isinstance(live, bool):
        live = "T" if live else "F"
    return live is not None and str(live) == str(wanted)


def record_matches(record: dict[str, Any], fields: dict[str, str]) -> bool:
    """Whether every `path: value` of `fields` holds in the record."""
    return all(same_value(get_path(record, p), v) for p, v in fields.items())


def checks_hold(client: RecordClient, checks: list[Check]) -> bool:
    """Ask the ERP whether any of the checks holds (the correction is in place)."""
    for check in checks:
        resp = client.get(check.record_type, check.ref)
        if check.kind == "absent" and resp is None:
            return True
        if check.kind == "exists" and resp is not None:
            return True
        if (
            check.kind == "equals"
            and resp is not None
            and isinstance(resp.body, dict)
            and record_matches(resp.body, check.fields)
        ):
            return True
    return False


@dataclass
class _Period:
    name: str
    month: str  # YYYY-MM
    closed_in_erp: bool


@dataclass
class PlanContext:
    """What planning reads from the ERP once: accounting periods and currency ids."""

    periods: dict[str, _Period]
    currencies: dict[str, str]  # ISO code -> internal id

    @classmethod
    def load(cls, client: RecordClient) -> PlanContext:
        """Read the periods and currencies through SuiteQL."""
        periods: dict[str, _Period] = {}
        for row in client.suiteql(
            "select id, periodname, startdate, closed from accountingperiod "
            "where isyear = 'F' and isquarter = 'F'"
        ):
            month, _, year = str(row.get("startdate", "")).partition("/")
            year = year.partition("/")[2]
            ym = f"{year}-{int(month):02d}" if month.isdigit() and year.isdigit() else ""
            periods[str(row["id"])] = _Period(
                str(row.get("periodname", row["id"])), ym, row.get("closed") == "T"
            )
        currencies = {
            str(row["symbol"]).upper(): str(row["id"])
            for row in client.suiteql("select id, symbol from currency")
            if row.get("symbol")
        }
        return cls(periods, currencies)

    def closed(self, policy: Policy, period_id: str | None) -> str | None:
        """The period's name when policy or ERP says it is closed, else None."""
        if period_id is None:
            return None
        period = self.periods.get(str(period_id))
        if period is None:
            return None
        if (policy.closed_from_erp and period.closed_in_erp) or policy.month_closed(period.month):
            return period.name
        return None

    def period_of_day(self, day: str) -> str | None:
        """The posting period id of a `YYYY-MM-DD` date."""
        month = day[:7]
        return next((pid for pid, p in self.periods.items() if p.month == month), None)


def batchable_internal_id(rid: str) -> bool:
    """Whether an internal id is read in a batch: a canonical decimal integer (anything else
    keeps its GET, whose answer, an error included, stays the one it always was)."""
    return rid.isascii() and rid.isdigit() and len(rid) <= 18 and rid == str(int(rid))


def batchable_external_id(external_id: str) -> bool:
    """Whether an external id can be looked up in a batched SuiteQL query with exactly the
    answer the record API's `eid:` GET gives (printable, no path-breaking character)."""
    return (
        0 < len(external_id) <= MAX_BATCHED_ID
        and external_id.isprintable()
        and not _UNBATCHABLE.intersection(external_id)
    )


def sql_string(value: str) -> str:
    """A SuiteQL string literal: single quotes doubled (the only escape Oracle SQL has)."""
    return "'" + value.replace("'", "''") + "'"


def id_chunks(ids: Iterable[str]) -> Iterator[list[str]]:
    """Ids in chunks of at most `EXISTS_CHUNK` ids and about `EXISTS_CHUNK_CHARS` characters."""
    chunk: list[str] = []
    size = 0
    for ext in ids:
        if chunk and (len(chunk) >= EXISTS_CHUNK or size + len(ext) > EXISTS_CHUNK_CHARS):
            yield chunk
            chunk, size = [], 0
        chunk.append(ext)
        size += len(ext) + 4
    if chunk:
        yield chunk


def _id_order(rid: str) -> tuple[int, int, str]:
    return (0, int(rid), "") if rid.isdigit() else (1, 0, rid)


class Planner:
    """Turns corrections into plan items against the live ERP.

    With `batch_reads` (the default) the ERP is read up front in SuiteQL queries, which
    NetSuite's governance counts as one request per page: whether creates' external ids exist
    (one query per `EXISTS_CHUNK` ids and family), and the records that updates, deletes and
    transforms name (one query per `READ_CHUNK` ids and family). An item planned from such a
    read has the values read as its version (`unchanged:`); apply reads the record with one
    GET right before writing it, checks them and writes with that GET's ETag. A write whose
    body needs the whole record (an invoice total: the `item` sublist) and whatever a query
    could not answer read their record with one GET, as `batch_reads=False` does for every
    correction. Either way the plan's items are the same, but for the version and the
    idempotency key derived from it.
    """

    def __init__(
        self,
        client: RecordClient,
        policy: Policy,
        context: PlanContext | None = None,
        *,
        batch_reads: bool = True,
    ):
        self.client = client
        self.policy = policy
        self.batch_reads = batch_reads
        self.ctx = context or PlanContext.load(client)
        #: (record type, external id) -> internal id, or None when absent; what is not in it
        #: is asked with a GET.
        self._known: dict[tuple[str, str], str | None] = {}
        #: (record type, internal id) -> the record read in a batch, or None when absent;
        #: what is not in it is read with a GET.
        self._records: dict[tuple[str, str], BatchedRead | None] = {}
        #: invoice internal id -> its item lines (only each line's `item`), read in a batch for
        #: the total corrections of a closed period (their adjusting document names the item).
        self._lines: dict[str, list[dict[str, Any]]] = {}
        #: SuiteQL was refused as a whole (403: the role may not use it): no more queries.
        self._no_suiteql = False

    # -- helpers ----------------------------------------------------------------------------

    def _item(self, c: Correction, decision: str, reason: str, **kw: Any) -> PlanItem:
        return PlanItem(
            correction_id=c.correction_id,
            exception_id=c.exception_id,
            exception_type=c.exception_type,
            record_type=c.record_type,
            action=c.action,
            decision=decision,
            reason=reason,
            erp_id=c.erp_id,
            external_id=c.external_id,
            field=c.field,
            current_value=c.current_value,
            desired_value=c.desired_value,
            amount_delta_usd=c.amount_delta_usd,
            **kw,
        )

    def _writable(self, record_type: str, action: str, fields: set[str]) -> str | None:
        """Why the policy forbids this write, or None when it allows it."""
        rule = self.policy.record_types.get(record_type)
        if rule is None:
            return f"policy: record type '{record_type}' may not be written"
        if action not in rule.actions:
            return f"policy: action '{action}' is not allowed on '{record_type}'"
        outside = sorted(fields - rule.fields - {"externalId"})
        if outside:
            return f"policy: field(s) {', '.join(outside)} of '{record_type}' may not be written"
        return None

    def _gate(self, c: Correction, item: PlanItem) -> PlanItem:
        """Auto or approval, by exception type, the model's flag and the amount limit."""
        delta = abs(c.amount_delta_usd) if c.amount_delta_usd is not None else Decimal(0)
        mode = self.policy.mode_for(c.exception_type)
        why = []
        if mode == "approval":
            why.append(f"policy: {c.exception_type} needs approval")
        if c.requires_approval:
            why.append("erp_corrections flags it for approval")
        if delta > self.policy.max_auto_amount_delta_usd:
            why.append(
                f"amount delta {delta} USD is over the automatic limit "
                f"{self.policy.max_auto_amount_delta_usd} USD"
            )
        if why:
            item.decision, item.reason = APPROVAL, "; ".join(why)
        return item

    def _request(self, item: PlanItem, method: str, path: str, body: Any, etag: str | None) -> None:
        item.method, item.path, item.body, item.if_match = method, path, body, etag
        item.idempotency_key = idempotency_key(item.correction_id, method, path, body, etag)

    # -- the decision -----------------------------------------------------------------------

    def plan(self, corrections: list[Correction]) -> list[PlanItem]:
        """Plan every correction (adjusting-document proposals follow their parent)."""
        self._known, self._records, self._lines = {}, {}, {}
        self._no_suiteql = False
        try:
            if self.batch_reads:
                self.prefetch(corrections)
                self.prefetch_records(corrections)
            items: list[PlanItem] = []
            for c in corrections:
                items.extend(self.plan_one(c))
            return items
        finally:
            self._known, self._records, self._lines = {}, {}, {}

    # -- batched reads ----------------------------------------------------------------------

    def prefetch(self, corrections: list[Correction]) -> None:
        """Learn which of the external ids the plan will look up exist, in batches.

        Asked for: every create's external id, and the adjusting document's external id of an
        amount update (used if its period turns out closed). A failed query (ErpError) stops
        the batching with a warning; the ids it did not answer are read one GET each.
        """
        customers: set[str] = set()
        transactions: set[str] = set()
        for c in corrections:
            for record_type, ext in _looked_up_by_external_id(c):
                if not batchable_external_id(ext):
                    continue
                (customers if record_type == "customer" else transactions).add(ext)
        try:
            for chunk in id_chunks(sorted(customers)):
                found = self._existing("customer", chunk)
                for ext in chunk:
                    self._known[("customer", ext)] = found.get(("customer", ext))
            for chunk in id_chunks(sorted(transactions)):
                found = self._existing("transaction", chunk)
                for ext in chunk:
                    for record_type in TRANSACTION_TYPES:
                        self._known[(record_type, ext)] = found.get((record_type, ext))
        except ErpError as exc:
            self._no_suiteql = exc.status == 403
            log.warning(
                "batched existence query failed (%s): reading the remaining records one "
                "request each",
                exc,
            )

    def prefetch_records(self, corrections: list[Correction]) -> None:
        """Read the records that updates, deletes and transforms name by internal id, in
        batches: one SuiteQL query per `READ_CHUNK` ids and family (customers, transactions).

        A record the query does not return does not exist (as a GET's 404 says). A failed query
        (ErpError) is asked again without the custom fields (`custentity_...`: an account may
        not have them, or the role may not read them), then stops the batching of its family
        with a warning; what it did not answer is read one GET each.
        """
        wanted: dict[str, set[str]] = {"customer": set(), "transaction": set()}
        for c in corrections:
            if (
                c.action in ("update", "delete", "transform")
                and c.record_type in RECORD_TYPES
                and c.erp_id
                and batchable_internal_id(c.erp_id)
            ):
                wanted["customer" if c.record_type == "customer" else "transaction"].add(c.erp_id)
        for table, ids in wanted.items():
            if self._no_suiteql:
                return
            columns: tuple[tuple[str, str], ...] = (
                CUSTOMER_COLUMNS if table == "customer" else TRANSACTION_COLUMNS
            )
            types = ("customer",) if table == "customer" else tuple(TRANSACTION_TYPES)
            ordered = sorted(ids, key=int)
            try:
                for start in range(0, len(ordered), READ_CHUNK):
                    chunk = ordered[start : start + READ_CHUNK]
                    try:
                        found = self._read_records(table, chunk, columns)
                    except ErpError as exc:
                        # a 400: a field this account or role does not have (a custom one)
                        standard = tuple(c for c in columns if not c[0].startswith("cust"))
                        if exc.status != 400 or standard == columns:
                            raise
                        log.warning(
                            "batched %s read failed (%s): reading it without its custom fields",
                            table,
                            exc,
                        )
                        columns = standard
                        found = self._read_records(table, chunk, columns)
                    for rid in chunk:
                        for record_type in types:
                            self._records[(record_type, rid)] = found.get((record_type, rid))
            except ErpError as exc:
                self._no_suiteql = exc.status == 403
                log.warning(
                    "batched record read failed (%s): reading the remaining records one "
                    "request each",
                    exc,
                )
        if self._no_suiteql:
            return
        try:
            self._prefetch_closed_lines(corrections)
        except ErpError as exc:
            log.warning("batched line read failed (%s): reading those invoices with a GET", exc)
            self._lines = {}

    def _prefetch_closed_lines(self, corrections: list[Correction]) -> None:
        """The item lines of the invoices whose total a correction changes in a closed period:
        refused, they propose an adjusting document naming the first line's item, which the
        header does not give. Open-period totals are written as the whole `item` sublist and
        read their record with a GET (line amounts are not read from SuiteQL)."""
        ids = set()
        for c in corrections:
            live = self._records.get(("invoice", c.erp_id or ""))
            if not _is_total_update(c) or live is None:
                continue
            period = _ref_id(live.body.get("postingPeriod"))
            if self.ctx.closed(self.policy, period) and not same_value(
                live.body.get("total"), c.desired_value
            ):
                ids.add(str(live.body["id"]))
        ordered = sorted(ids, key=int)
        for start in range(0, len(ordered), READ_CHUNK):
            chunk = ordered[start : start + READ_CHUNK]
            lines: dict[str, list[dict[str, Any]]] = {rid: [] for rid in chunk}
            for row in self.client.suiteql(
                "SELECT transaction, id, linesequencenumber, item FROM transactionline "
                f"WHERE mainline = 'F' AND taxline = 'F' AND transaction IN ({', '.join(chunk)}) "
                "ORDER BY transaction, linesequencenumber, id"
            ):
                line = {"item": {"id": str(row["item"])}} if row.get("item") else {}
                lines.setdefault(str(row.get("transaction")), []).append(line)
            self._lines.update({rid: lines[rid] for rid in chunk})

    def _read_records(
        self, table: str, ids: list[str], columns: tuple[tuple[str, str], ...]
    ) -> dict[tuple[str, str], BatchedRead]:
        """(record type, internal id) -> the record (its `columns`), for the ids the ERP
        holds."""
        listed = ", ".join(ids)  # canonical decimal integers (batchable_internal_id)
        selected = ", ".join(
            "TO_CHAR(trandate, 'YYYY-MM-DD') AS trandate" if c == "trandate" else c
            for c, _ in columns
        )
        if table == "customer":
            query = f"SELECT id, {selected} FROM customer WHERE id IN ({listed})"
        else:
            # the type is matched here, not in the query: an internal id names one transaction
            # whatever its type, and a filter on the type leads the sandbox's SQLite to scan
            # every transaction of those types rather than look the ids up
            query = f"SELECT id, type, {selected} FROM transaction WHERE id IN ({listed})"
        record_type_of = {v: k for k, v in TRANSACTION_TYPES.items()}
        found: dict[tuple[str, str], BatchedRead] = {}
        for row in self.client.suiteql(query):
            if row.get("id") is None:
                continue
            record_type = (
                "customer" if table == "customer" else record_type_of.get(str(row.get("type")))
            )
            if record_type is not None:
                found[(record_type, str(row["id"]))] = batched_record(record_type, row, columns)
        return found

    def _existing(self, table: str, ext_ids: list[str]) -> dict[tuple[str, str], str]:
        """(record type, external id) -> lowest internal id, for the ids the ERP holds (the
        record API's `eid:` lookup resolves to the lowest id too)."""
        names = ", ".join(sql_string(e) for e in ext_ids)
        if table == "customer":
            query = f"SELECT id, externalid FROM customer WHERE externalid IN ({names})"
        else:
            types = ", ".join(sql_string(t) for t in TRANSACTION_TYPES.values())
            query = (
                f"SELECT id, externalid, type FROM transaction "
                f"WHERE type IN ({types}) AND externalid IN ({names})"
            )
        record_type_of = {v: k for k, v in TRANSACTION_TYPES.items()}
        found: dict[tuple[str, str], str] = {}
        for row in self.client.suiteql(query):
            ext, rid = row.get("externalid"), row.get("id")
            kind = str(row.get("type"))
            record_type = "customer" if table == "customer" else record_type_of.get(kind)
            if ext is None or rid is None or record_type is None:
                continue
            key = (record_type, str(ext))
            if key not in found or _id_order(str(rid)) < _id_order(found[key]):
                found[key] = str(rid)
        return found

    def _lookup(self, record_type: str, ref: str) -> tuple[bool, Any]:
        """(exists, internal id) of `eid:<externalId>` or an id: the batched answer when there
        is one, else one GET (the id is the record body's `id`, "?" without a body)."""
        if ref.startswith("eid:"):
            known = self._known.get((record_type, ref[4:]), _UNKNOWN)
            if known is not _UNKNOWN:
                return known is not None, known
        existing = self.client.get(record_type, ref)
        if existing is None:
            return False, None
        return True, existing.body.get("id") if isinstance(existing.body, dict) else "?"

    def plan_one(self, c: Correction) -> list[PlanItem]:
        """Plan one correction: one item, plus an adjusting document when one is proposed."""
        if c.record_type not in RECORD_TYPES:
            return [self._item(c, REFUSED, f"unknown record type '{c.record_type}'")]
        if self.policy.mode_for(c.exception_type) == "never":
            return [self._item(c, REFUSED, f"policy: {c.exception_type} is never written back")]
        delta = abs(c.amount_delta_usd) if c.amount_delta_usd is not None else Decimal(0)
        if delta > self.policy.max_amount_delta_usd:
            return [
                self._item(
                    c,
                    REFUSED,
                    f"amount delta {delta} USD is over the policy limit "
                    f"{self.policy.max_amount_delta_usd} USD",
                )
            ]
        action = c.action
        if c.record_type == "invoice" and action == "update" and _status_target(c) == "V":
            action = "transform"  # a voided billing invoice is closed by a credit memo
        handler = {
            "create": self._create,
            "update": self._update,
            "delete": self._delete,
            "transform": self._transform,
        }.get(action)
        if handler is None:
            return [self._item(c, REFUSED, f"unknown action '{c.action}'")]
        return handler(c)

    def _live(self, c: Correction) -> tuple[str | None, ErpResponse | None]:
        """The record the correction names: from the batched read when it has it, else a GET."""
        ref = c.erp_id or (f"eid:{c.external_id}" if c.external_id else None)
        if ref is None:
            return None, None
        key = (c.record_type, ref)
        if key in self._records:
            return ref, self._records[key]
        return ref, self.client.get(c.record_type, ref)

    def _batch_builds(self, c: Correction, live: BatchedRead) -> bool:
        """Whether an update can be planned from its batched read: every field it reads or
        writes is one the batch gave (an invoice's total is written as its `item` sublist,
        which needs the whole record)."""
        given = {p.partition(".")[0] for p in live.paths}
        if isinstance(c.payload, dict) and c.payload:
            return set(c.payload) <= given
        name = c.record_field
        if name is None or c.desired_value is None:
            return True  # refused without looking at the record
        if name == "total" and c.record_type == "invoice":
            return False
        if name == "status" and c.record_type == "invoice":
            return True
        return name in given

    def _create(self, c: Correction) -> list[PlanItem]:
        if not c.external_id:
            return [self._item(c, REFUSED, "a create needs external_id (the upsert key)")]
        if not isinstance(c.payload, dict) or not c.payload:
            return [self._item(c, REFUSED, "a create needs the full record body in payload")]
        body = dict(c.payload)
        if body.get("externalId", c.external_id) != c.external_id:
            return [self._item(c, REFUSED, "payload externalId differs from external_id")]
        body.pop("externalId", None)
        forbidden = self._writable(c.record_type, "create", set(body))
        if forbidden:
            return [self._item(c, REFUSED, forbidden)]
        ref = f"eid:{c.external_id}"
        exists, rid = self._lookup(c.record_type, ref)
        if exists:
            return [self._item(c, SKIP, f"already in the ERP ({c.record_type} {rid})")]
        checks = [Check("exists", c.record_type, ref)]
        path = f"{RECORD_PREFIX}/{c.record_type}/{ref}"
        if c.record_type != "customer":
            period = _ref_id(body.get("postingPeriod")) or (
                self.ctx.period_of_day(str(body["tranDate"])) if body.get("tranDate") else None
            )
            closed = self.ctx.closed(self.policy, period)
            if closed:
                parent = self._item(
                    c, REFUSED, f"closed period {closed}: the ERP takes no postings there"
                )
                adjusted = {k: v for k, v in body.items() if k not in ("tranDate", "postingPeriod")}
                proposal = self._adjusting(
                    c, parent, c.record_type, ref, adjusted,
                    f"post it in the current open period instead of {closed}",
                )  # fmt: skip
                return [parent, *proposal]
        item = self._item(c, APPLY, f"create {c.record_type} {c.external_id}", checks=checks)
        self._request(item, "PUT", path, body, None)
        return [self._gate(c, item)]

    def _update(self, c: Correction) -> list[PlanItem]:
        ref, live = self._live(c)
        if ref is None:
            return [self._item(c, REFUSED, "an update needs erp_id or external_id")]
        if isinstance(live, BatchedRead) and not self._batch_builds(c, live):
            lines = self._lines.get(str(live.body.get("id")))
            if _is_total_update(c) and same_value(live.body.get("total"), c.desired_value):
                before = {"total": live.body.get("total")}
                return [
                    self._item(c, SKIP, "the ERP already holds the desired value", before=before)
                ]
            if _is_total_update(c) and lines is not None:
                # closed period: refused, with an adjusting document naming the first item
                live = dataclasses.replace(live, body={**live.body, "item": {"items": lines}})
            else:
                live = self.client.get(c.record_type, ref)  # the write needs the whole record
        if live is None or not isinstance(live.body, dict):
            return [self._item(c, REFUSED, f"{c.record_type} {ref} does not exist in the ERP")]
        record = live.body
        built = self._update_body(c, record)
        if isinstance(built, str):
            return [self._item(c, REFUSED, built)]
        body, check_fields, touched = built
        forbidden = self._writable(c.record_type, "update", touched)
        if forbidden:
            return [self._item(c, REFUSED, forbidden)]
        before = {p: get_path(record, p) for p in check_fields}
        rid = str(record.get("id", c.erp_id))
        # a body whose effect cannot be read back (sublists) relies on its idempotency key
        checks = [Check("equals", c.record_type, rid, check_fields)] if check_fields else []
        if check_fields and record_matches(record, check_fields):
            return [self._item(c, SKIP, "the ERP already holds the desired value", before=before)]
        if c.record_type != "customer" and touched & FINANCIAL_FIELDS:
            period = _ref_id(record.get("postingPeriod"))
            closed = self.ctx.closed(self.policy, period)
            if closed:
                parent = self._item(
                    c,
                    REFUSED,
                    f"closed period {closed}: no edit to {', '.join(sorted(touched))} of "
                    f"{c.record_type} {rid}",
                    before=before,
                )
                return [parent, *self._adjust_update(c, parent, record, closed)]
        path = f"{RECORD_PREFIX}/{c.record_type}/{rid}"
        reason = (
            f"update {', '.join(sorted(touched)) or 'record (re-save)'} of {c.record_type} {rid}"
        )
        item = self._item(c, APPLY, reason, checks=checks, before=before)
        self._request(item, "PATCH", path, body, version_of(live))
        return [self._gate(c, item)]

    def _update_body(
        self, c: Correction, record: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, str], set[str]] | str:
        """(body, fields to check, fields touched), or why no body can be built."""
        if isinstance(c.payload, dict) and c.payload:
            fields: dict[str, str] = {}
            for key, value in c.payload.items():
                if isinstance(value, dict) and set(value) == {"id"}:
                    fields[f"{key}.id"] = str(value["id"])
                elif not isinstance(value, dict | list):
                    fields[key] = str(value)
            return dict(c.payload), fields, set(c.payload)
        name = c.record_field
        if name is None or c.desired_value is None:
            return "an update needs record_field and desired_value (or a payload)"
        desired = c.desired_value
        if name == "total" and c.record_type == "invoice":
            return self._invoice_total_body(record, desired, c.currency_exponent)
        if name == "status" and c.record_type == "invoice":
            if desired != "B":
                return f"invoice status {desired!r} cannot be written (only paid B, or void V)"
            # NetSuite derives an invoice's status; re-saving it recomputes the open amount
            # from the payments applied, which is what a "paid but still open" needs.
            return {}, {"status.id": "B"}, {"status"}
        if name == "currency":
            cur = c.value("currency_ref") or self.ctx.currencies.get(desired.upper())
            if cur is None:
                return f"unknown currency {desired!r}"
            return {"currency": {"id": cur}}, {"currency.id": cur}, {"currency"}
        if name == "payment":
            amount = _dec(c.value("payment") if c.value("payment") is not None else desired)
            if amount is None:
                return f"payment amount {desired!r} is not a number"
            amount = quantize(amount, c.currency_exponent)
            return {"payment": amount}, {"payment": desired}, {"payment"}
        if name == "isInactive":
            flag = desired.upper() in ("T", "TRUE", "1")
            return {name: flag}, {name: "T" if flag else "F"}, {name}
        return {name: desired}, {name: desired}, {name}

    def _invoice_total_body(
        self, record: dict[str, Any], desired: str, exponent: int | None = None
    ) -> tuple[dict[str, Any], dict[str, str], set[str]] | str:
        """The item sublist with the first line moved by the difference (where the fault is)."""
        target, total = _dec(desired), _dec(record.get("total"))
        lines = (record.get("item") or {}).get("items") or []
        if target is None or total is None or not lines:
            return "cannot correct the total: no total or no lines on the ERP invoice"
        items = []
        for n, line in enumerate(lines):
            out = {k: v for k, v in line.items() if k in _LINE_KEYS}
            if isinstance(out.get("item"), dict):
                out["item"] = {"id": str(out["item"]["id"])}
            if n == 0:
                amount = (_dec(line.get("amount")) or Decimal(0)) + (target - total)
                out["amount"] = quantize(amount, exponent)
            items.append(out)
        return {"item": {"items": items}}, {"total": desired}, {"item"}

    def _adjust_update(
        self, c: Correction, parent: PlanItem, record: dict[str, Any], closed: str
    ) -> list[PlanItem]:
        """The adjusting document for an amount correction in a closed period."""
        name = c.record_field or ""
        ext = "adj-" + hashlib.sha256(c.correction_id.encode()).hexdigest()[:20]
        currency = _ref_id(record.get("currency"))
        if c.record_type == "invoice" and name == "total":
            target, total = _dec(c.desired_value), _dec(record.get("total"))
            lines = (record.get("item") or {}).get("items") or []
            if target is None or total is None or not lines or target == total:
                return []
            diff = target - total
            doc = "creditmemo" if diff < 0 else "invoice"
            body = {
                "entity": {"id": _ref_id(record.get("entity"))},
                "currency": {"id": currency},
                "otherRefNum": record.get("externalId") or record.get("tranId"),
                "memo": f"closeloop adjustment of {record.get('tranId')} ({c.correction_id})",
                "item": {
                    "items": [
                        {
                            "item": {"id": _ref_id(lines[0].get("item"))},
                            "amount": abs(diff),
                            "description": f"Adjustment of {record.get('tranId')}",
                        }
                    ]
                },
            }
            what = f"a {doc} of {abs(diff)} in an open period"
            return self._adjusting(c, parent, doc, f"eid:{ext}", body, what)
        if c.record_type == "customerpayment" and name == "payment":
            target, total = _dec(c.desired_value), _dec(record.get("payment"))
            if target is None or total is None or target <= total:
                return []
            body = {
                "customer": {"id": _ref_id(record.get("customer"))},
                "currency": {"id": currency},
                "payment": target - total,
                "otherRefNum": record.get("externalId"),
                "memo": f"closeloop adjustment of {record.get('tranId')} ({c.correction_id})",
            }
            what = f"a customerpayment of {target - total} in an open period"
            return self._adjusting(c, parent, "customerpayment", f"eid:{ext}", body, what)
        parent.reason += "; no adjusting document applies: correct it by hand in the ERP"
        return []

    def _adjusting(
        self,
        c: Correction,
        parent: PlanItem,
        doc_type: str,
        ref: str,
        body: dict[str, Any],
        what: str,
    ) -> list[PlanItem]:
        """A proposed adjusting document (always needs approval)."""
        if not self.policy.propose_adjusting:
            parent.reason += "; adjusting documents are switched off by policy"
            return []
        proposal = PlanItem(
            correction_id=f"{c.correction_id}:adjust",
            exception_id=c.exception_id,
            exception_type=c.exception_type,
            record_type=doc_type,
            action="create",
            decision=APPROVAL,
            reason=f"adjusting document for {c.correction_id}: {what}",
            external_id=ref.removeprefix("eid:"),
            field=c.field,
            current_value=c.current_value,
            desired_value=c.desired_value,
            amount_delta_usd=c.amount_delta_usd,
            checks=[Check("exists", doc_type, ref)],
            parent_id=c.correction_id,
        )
        forbidden = self._writable(doc_type, "create", set(body))
        if forbidden:
            proposal.decision, proposal.reason = REFUSED, forbidden
            return [proposal]
        if self._lookup(doc_type, ref)[0]:
            proposal.decision, proposal.reason = SKIP, f"adjusting {doc_type} {ref} already exists"
            return [proposal]
        self._request(proposal, "PUT", f"{RECORD_PREFIX}/{doc_type}/{ref}", body, None)
        parent.reason += f"; proposed {what} for approval ({proposal.correction_id})"
        return [proposal]

    def _delete(self, c: Correction) -> list[PlanItem]:
        ref, live = self._live(c)
        if ref is None:
            return [self._item(c, REFUSED, "a delete needs erp_id")]
        if live is None or not isinstance(live.body, dict):
            return [self._item(c, SKIP, f"{c.record_type} {ref} is already gone")]
        forbidden = self._writable(c.record_type, "delete", set())
        if forbidden:
            return [self._item(c, REFUSED, forbidden)]
        record = live.body
        rid = str(record.get("id"))
        before = {k: record.get(k) for k in ("id", "tranId", "externalId", "otherRefNum", "total")}
        closed = self.ctx.closed(self.policy, _ref_id(record.get("postingPeriod")))
        if closed and c.record_type != "customer":
            parent = self._item(
                c, REFUSED, f"closed period {closed}: {c.record_type} {rid} cannot be deleted",
                before=before,
            )  # fmt: skip
            if c.record_type != "invoice":
                return [parent]
            return [parent, *self._transform_items(c, record, live, parent=parent)]
        item = self._item(
            c, APPLY, f"delete {c.record_type} {rid}", before=before,
            checks=[Check("absent", c.record_type, rid)],
        )  # fmt: skip
        path = f"{RECORD_PREFIX}/{c.record_type}/{rid}"
        self._request(item, "DELETE", path, None, version_of(live))
        return [self._gate(c, item)]

    def _transform(self, c: Correction) -> list[PlanItem]:
        if c.record_type != "invoice":
            return [self._item(c, REFUSED, "only an invoice can be transformed (to a credit memo)")]
        ref, live = self._live(c)
        if ref is None or live is None or not isinstance(live.body, dict):
            return [self._item(c, REFUSED, f"invoice {ref} does not exist in the ERP")]
        return self._transform_items(c, live.body, live, parent=None)

    def _transform_items(
        self, c: Correction, record: dict[str, Any], live: ErpResponse, parent: PlanItem | None
    ) -> list[PlanItem]:
        """Close an invoice's open amount with NetSuite's invoice -> credit memo transform."""
        rid = str(record.get("id"))
        ext = "cl-cm-" + hashlib.sha256(c.correction_id.encode()).hexdigest()[:20]
        checks = [Check("exists", "creditmemo", f"eid:{ext}")]
        before = {k: get_path(record, k) for k in ("id", "tranId", "status.id", "amountRemaining")}
        body = {
            "externalId": ext,
            "memo": f"closeloop: closes {record.get('tranId')} ({c.correction_id})",
        }
        path = f"{RECORD_PREFIX}/invoice/{rid}/!transform/creditmemo"
        if parent is not None:
            forbidden = self._writable("invoice", "transform", set())
            if forbidden or not self.policy.propose_adjusting:
                parent.reason += f"; {forbidden or 'adjusting documents are switched off'}"
                return []
            item = PlanItem(
                correction_id=f"{c.correction_id}:adjust", exception_id=c.exception_id,
                exception_type=c.exception_type, record_type="invoice", action="transform",
                decision=APPROVAL, erp_id=rid, external_id=ext, field=c.field,
                reason=f"adjusting document for {c.correction_id}: a credit memo closing "
                f"invoice {rid} in an open period", amount_delta_usd=c.amount_delta_usd,
                checks=checks, before=before, parent_id=c.correction_id,
            )  # fmt: skip
            parent.reason += f"; proposed a credit memo for approval ({item.correction_id})"
        else:
            forbidden = self._writable("invoice", "transform", set())
            if forbidden:
                return [self._item(c, REFUSED, forbidden)]
            item = self._item(
                c, APPLY, f"credit memo closing invoice {rid}", checks=checks, before=before
            )
            item.action = "transform"
        if (_dec(record.get("amountRemaining")) or Decimal(0)) == 0:
            item.decision, item.reason = SKIP, f"invoice {rid} has no open amount left to close"
            return [item]
        self._request(item, "POST", path, body, version_of(live))
        return [item if parent is not None else self._gate(c, item)]


#: Not looked up in a batch (the GET decides).
_UNKNOWN: Any = object()


def _is_total_update(c: Correction) -> bool:
    """An invoice total correction written as the item sublist (no explicit payload)."""
    return (
        c.record_type == "invoice"
        and c.action == "update"
        and c.record_field == "total"
        and c.desired_value is not None
        and not (isinstance(c.payload, dict) and c.payload)
    )


def _looked_up_by_external_id(c: Correction) -> list[tuple[str, str]]:
    """(record type, external id) the plan of `c` may ask about by `eid:`: a create's own,
    and the adjusting document of an amount update (asked only if its period is closed)."""
    if c.action == "create" and c.external_id and c.record_type in RECORD_TYPES:
        return [(c.record_type, c.external_id)]
    if c.action == "update" and c.record_type in ("invoice", "customerpayment"):
        name = c.record_field
        if name in ("total", "payment"):
            ext = "adj-" + hashlib.sha256(c.correction_id.encode()).hexdigest()[:20]
            doc_types = ("creditmemo", "invoice") if name == "total" else ("customerpayment",)
            return [(t, ext) for t in doc_types]
    return []


_LINE_KEYS = ("item", "quantity", "rate", "amount", "description", "custcol_cl_service_start",
              "custcol_cl_service_end")  # fmt: skip


def _status_target(c: Correction) -> str | None:
    if c.record_field != "status" or c.desired_value is None:
        return None
    value = str(c.value("status_ref") or c.desired_value).strip().upper()
    return {"VOID": "V", "VOIDED": "V", "PAID": "B"}.get(value, value)


def _ref_id(value: Any) -> str | None:
    if isinstance(value, dict) and value.get("id") is not None:
        return str(value["id"])
    return None
