"""Constants of the ERP (NetSuite SuiteQL) source: tables, keys, cursors and field types."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ingestion.edge import Kind

#: SuiteQL's page size: default and maximum of `limit`.
PAGE_LIMIT = 1000
#: NetSuite refuses to page one query past this many rows; the source restarts from its cursor.
MAX_ROWS_PER_QUERY = 100_000
#: NetSuite (Oracle) takes at most this many values in one `IN (...)` list.
IN_LIST_LIMIT = 1000
#: Transactions named in one SuiteQL query of current line or link keys. A link query names
#: them twice (`previousdoc IN (...) OR nextdoc IN (...)`), and the sandbox's SQLite refuses
#: expressions deeper than 1,000 terms (it compiles IN to ORs), so well under IN_LIST_LIMIT.
KEY_QUERY_PARENTS = 400
#: The account's date preference (Setup > Company > General Preferences), in NetSuite notation.
DEFAULT_DATE_FORMAT = "M/D/YYYY"
#: How our cursor queries render and read datetimes (TO_CHAR / TO_TIMESTAMP format).
TIMESTAMP_FORMAT = "YYYY-MM-DD HH24:MI:SS"
#: Transaction types landed: invoices, payments, credit memos, customer refunds.
TRANSACTION_TYPES = ("CustInvc", "CustPymt", "CustCred", "CustRfnd")


@dataclass(frozen=True)
class ErpTable:
    """One SuiteQL table as the source reads it.

    Attributes:
        key: primary key columns.
        cursor: the last-modified datetime column the run is incremental on.
        fields: declared columns and their kinds (others land as text).
        where: extra filter (SuiteQL over alias `t`).
        join: extra FROM clause (e.g. lines joined to their transaction as `h`).
    """

    key: tuple[str, ...]
    cursor: str
    fields: dict[str, Kind] = field(default_factory=dict)
    where: str = ""
    join: str = ""


#: `deletedrecord.recordtypeid` values the source applies, and the raw table each deletes from.
#: A deleted transaction also takes its `transactionline` and `previoustransactionlink` rows.
DELETED_RECORD_TABLES = {
    "customer": "customer",
    "invoice": "transaction",
    "customerpayment": "transaction",
    "creditmemo": "transaction",
    "customerrefund": "transaction",
}
#: Raw tables a key sweep compares with NetSuite: those `deletedrecord` deletes from (a swept
#: transaction also takes its lines and links, as a listed one does).
SWEPT_TABLES = tuple(sorted(set(DELETED_RECORD_TABLES.values())))
#: Tables the run goes on without when the role may not read them (SOURCES__ERP__OPTIONAL_TABLES,
#: comma-separated). Every other table is required: a refusal fails the run.
OPTIONAL_TABLES = "deletedrecord"
#: The NetSuite permission each optional table needs, as the role setup names it.
TABLE_PERMISSIONS = {
    "deletedrecord": (
        "Deleted Records permission (Setup > Users/Roles > Manage Roles > the role > "
        "Permissions > Setup)"
    ),
}
#: When to compare the ERP's ids with the landed ones (SOURCES__ERP__KEY_SWEEP): `auto` when
#: `deletedrecord` cannot be read, `always` every due run, `never`.
KEY_SWEEP_MODES = ("auto", "always", "never")
KEY_SWEEP = "auto"
#: Hours between two key sweeps (SOURCES__ERP__KEY_SWEEP_EVERY_HOURS); 0 sweeps every run.
KEY_SWEEP_EVERY_HOURS = 24.0
#: The source state key holding the last sweep's time.
KEY_SWEEP_STATE = "key_sweep"

#: The hard-delete column of the raw tables rows can be deleted from: `true` removes the row at
#: merge (NetSuite has no such field; only the source's delete markers carry it).
DELETED_COLUMN = "cl_deleted"

_TYPES = ", ".join(f"'{t}'" for t in TRANSACTION_TYPES)
_DELETED_TYPES = ", ".join(f"'{t}'" for t in DELETED_RECORD_TABLES)

TABLES: dict[str, ErpTable] = {
    "subsidiary": ErpTable(
        ("id",),
        "lastmodifieddate",
        {"id": "bigint", "currency": "bigint", "parent": "bigint", "iselimination": "bool",
         "isinactive": "bool", "lastmodifieddate": "timestamp"},
    ),
    "currency": ErpTable(
        ("id",),
        "lastmodifieddate",
        {"id": "bigint", "currencyprecision": "bigint", "isbasecurrency": "bool",
         "isinactive": "bool", "lastmodifieddate": "timestamp"},
    ),
    "currencyrate": ErpTable(
        ("id",),
        "lastmodifieddate",
        {"id": "bigint", "basecurrency": "bigint", "transactioncurrency": "bigint",
         "exchangerate": "decimal", "effectivedate": "date", "lastmodifieddate": "timestamp"},
    ),
    "accountingperiod": ErpTable(
        ("id",),
        "lastmodifieddate",
        {"id": "bigint", "startdate": "date", "enddate": "date", "isquarter": "bool",
         "isyear": "bool", "isadjust": "bool", "isposting": "bool", "closed": "bool",
         "arlocked": "bool", "lastmodifieddate": "timestamp"},
    ),
    "customer": ErpTable(
        ("id",),
        "lastmodifieddate",
        {"id": "bigint", "subsidiary": "bigint", "currency": "bigint", "terms": "bigint",
         "isinactive": "bool", "datecreated": "timestamp", "lastmodifieddate": "timestamp"},
    ),
    "item": ErpTable(
        ("id",),
        "lastmodifieddate",
        {"id": "bigint", "isinactive": "bool", "lastmodifieddate": "timestamp"},
    ),
    "transaction": ErpTable(
        ("id",),
        "lastmodifieddate",
        {"id": "bigint", "trandate": "date", "duedate": "date", "entity": "bigint",
         "currency": "bigint", "exchangerate": "decimal", "foreigntotal": "decimal",
         "foreignamountunpaid": "decimal", "postingperiod": "bigint", "voided": "bool",
         "createddate": "timestamp", "lastmodifieddate": "timestamp"},
        where=f"t.type IN ({_TYPES})",
    ),
    "transactionline": ErpTable(
        ("uniquekey",),
        "linelastmodifieddate",
        {"uniquekey": "bigint", "id": "bigint", "transaction": "bigint",
         "linesequencenumber": "bigint", "mainline": "bool", "taxline": "bool", "item": "bigint",
         "quantity": "decimal", "rate": "decimal", "foreignamount": "decimal",
         "netamount": "decimal", "subsidiary": "bigint", "entity": "bigint",
         "custcol_cl_service_start": "date", "custcol_cl_service_end": "date",
         "linelastmodifieddate": "timestamp"},
        where=f"h.type IN ({_TYPES})",
        join="JOIN transaction h ON h.id = t.transaction",
    ),
    "previoustransactionlink": ErpTable(
        ("previousdoc", "nextdoc"),
        "lastmodifieddate",
        {"previousdoc": "bigint", "nextdoc": "bigint", "foreignamount": "decimal",
         "lastmodifieddate": "timestamp"},
    ),
    # Read first in every run (see `ingestion.sources.erp._Deletions`), landed as it is.
    "deletedrecord": ErpTable(
        ("recordtypeid", "recordid"),
        "deleteddate",
        {"recordid": "bigint", "iscustomlist": "bool", "iscustomrecord": "bool",
         "deleteddate": "timestamp"},
        where=f"t.recordtypeid IN ({_DELETED_TYPES})",
    ),
}  # fmt: skip

#: Documented text fields the models read, declared so each column exists from the first load:
#: SuiteQL omits a NULL column from its rows, so a field no record has set (a `memo`, an
#: `otherrefnum` the integration never wrote) would otherwise never become a column.
DECLARED_TEXT: dict[str, tuple[str, ...]] = {
    "subsidiary": ("name", "fullname", "country"),
    "currency": ("symbol", "name"),
    "accountingperiod": ("periodname",),
    "customer": ("externalid", "entityid", "companyname", "email", "custentity_cl_tax_id"),
    "item": ("externalid", "itemid", "displayname", "itemtype"),
    "transaction": ("externalid", "otherrefnum", "tranid", "type", "status", "memo"),
    "transactionline": ("memo",),
    "previoustransactionlink": ("linktype",),
}
TABLES = {
    name: replace(conf, fields={**conf.fields, **{c: "text" for c in DECLARED_TEXT.get(name, ())}})
    for name, conf in TABLES.items()
}
