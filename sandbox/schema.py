"""Storage contract of the sandbox: where each system's state lives and its tables.

The generator writes these SQLite databases; the three vendor-shaped APIs read them (and the
ERP API writes to its own). Column names are the vendors' own field names, so the query
languages (SOQL, SuiteQL) map onto them one to one.

Typed field catalogues (`CRM_FIELDS`, `ERP_FIELDS`) drive both the DDL and the APIs'
validation and rendering: a field not listed here is "unknown" to the API (a 400).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

# --------------------------------------------------------------------------------------
# Files under <CLOSELOOP_HOME>/sandbox/
# --------------------------------------------------------------------------------------

CRM_DB = "crm.sqlite"
BILLING_DB = "billing.sqlite"
ERP_DB = "erp.sqlite"
GROUND_TRUTH = "ground_truth.jsonl"  # one injected discrepancy per line
LEDGER = "ledger.csv"  # the simulator's own monthly KPIs
MANIFEST = "manifest.json"  # seed, scale, clock, counts, generator version
XREF_TRUTH = "xref_truth.csv"  # the true CRM/billing/ERP customer mapping, one row per customer
PROFILE = "profile.json"  # the company conventions the sandbox follows (sandbox/profiles/*.toml)

#: Stripe API version the stored billing documents are rendered in (the connector pins it).
STORED_STRIPE_VERSION = "2024-06-20"
#: Versions from this date on use the "basil" shapes (see VENDOR_FACTS.md, Stripe 7).
STRIPE_BASIL = "2025-03-31"
#: Salesforce API version the sandbox advertises (any vNN.N path is accepted).
SALESFORCE_API_VERSION = "v61.0"
#: NetSuite account date format (SuiteQL renders date and datetime columns with it).
NETSUITE_DATE_FORMAT = "M/D/YYYY"


@dataclass(frozen=True)
class SandboxPaths:
    """Where one sandbox's files live (`<home>/sandbox`)."""

    root: Path

    @classmethod
    def under(cls, home: Path) -> SandboxPaths:
        return cls(Path(home) / "sandbox")

    @property
    def crm(self) -> Path:
        return self.root / CRM_DB

    @property
    def billing(self) -> Path:
        return self.root / BILLING_DB

    @property
    def erp(self) -> Path:
        return self.root / ERP_DB

    @property
    def ground_truth(self) -> Path:
        return self.root / GROUND_TRUTH

    @property
    def ledger(self) -> Path:
        return self.root / LEDGER

    @property
    def xref_truth(self) -> Path:
        return self.root / XREF_TRUTH

    @property
    def manifest(self) -> Path:
        return self.root / MANIFEST

    @property
    def profile(self) -> Path:
        return self.root / PROFILE

    def exists(self) -> bool:
        return self.manifest.exists()


# --------------------------------------------------------------------------------------
# CRM (Salesforce). Field types: id, reference:<Object>, string, boolean, int, double,
# currency, date ('YYYY-MM-DD'), datetime (stored 'YYYY-MM-DDTHH:MM:SS.000+0000', UTC,
# so string order is time order). Every object also has IsDeleted, CreatedDate,
# LastModifiedDate and SystemModstamp.
# --------------------------------------------------------------------------------------

_SF_AUDIT: list[tuple[str, str]] = [
    ("IsDeleted", "boolean"),
    ("CreatedDate", "datetime"),
    ("LastModifiedDate", "datetime"),
    ("SystemModstamp", "datetime"),
]

CRM_FIELDS: dict[str, list[tuple[str, str]]] = {
    "Account": [
        ("Id", "id"),
        ("Name", "string"),
        ("Type", "string"),  # Customer, Prospect
        ("Industry", "string"),
        ("Website", "string"),
        ("Phone", "string"),
        ("BillingStreet", "string"),
        ("BillingCity", "string"),
        ("BillingPostalCode", "string"),
        ("BillingCountry", "string"),
        ("NumberOfEmployees", "int"),
        ("CurrencyIsoCode", "string"),
        ("OwnerId", "string"),
        ("Tax_Id__c", "string"),  # custom field: VAT / EIN, used for fuzzy matching
        *_SF_AUDIT,
    ],
    "Contact": [
        ("Id", "id"),
        ("AccountId", "reference:Account"),
        ("FirstName", "string"),
        ("LastName", "string"),
        ("Name", "string"),
        ("Email", "string"),
        ("Title", "string"),
        ("Phone", "string"),
        *_SF_AUDIT,
    ],
    "Product2": [
        ("Id", "id"),
        ("Name", "string"),
        ("ProductCode", "string"),  # = Stripe product id suffix / NetSuite item itemid
        ("Family", "string"),
        ("IsActive", "boolean"),
        ("Description", "string"),
        *_SF_AUDIT,
    ],
    "Contract": [
        ("Id", "id"),
        ("AccountId", "reference:Account"),
        ("ContractNumber", "string"),
        ("Status", "string"),  # Draft, Activated, Expired
        ("StartDate", "date"),
        ("EndDate", "date"),  # inclusive
        ("ContractTerm", "int"),  # months
        ("Billing_Frequency__c", "string"),  # custom: Monthly, Annual
        ("CurrencyIsoCode", "string"),
        ("ActivatedDate", "datetime"),
        *_SF_AUDIT,
    ],
    "Opportunity": [
        ("Id", "id"),
        ("AccountId", "reference:Account"),
        ("ContractId", "reference:Contract"),
        ("Name", "string"),
        ("StageName", "string"),  # Prospecting, ..., Closed Won, Closed Lost
        ("Type", "string"),  # New Business, Upsell, Downgrade, Renewal
        ("Amount", "currency"),  # total contract value in CurrencyIsoCode
        ("Probability", "double"),
        ("CloseDate", "date"),
        ("IsClosed", "boolean"),
        ("IsWon", "boolean"),
        ("CurrencyIsoCode", "string"),
        *_SF_AUDIT,
    ],
    "OpportunityLineItem": [
        ("Id", "id"),
        ("OpportunityId", "reference:Opportunity"),
        ("Product2Id", "reference:Product2"),
        ("PricebookEntryId", "string"),
        ("Name", "string"),
        ("Quantity", "double"),
        ("UnitPrice", "currency"),  # per billing period (month or year)
        ("ListPrice", "currency"),
        ("TotalPrice", "currency"),
        ("ServiceDate", "date"),
        ("Description", "string"),
        *_SF_AUDIT,
    ],
}

#: Salesforce key prefixes (first three characters of an Id).
CRM_KEY_PREFIX = {
    "Account": "001",
    "Contact": "003",
    "Opportunity": "006",
    "Contract": "800",
    "Product2": "01t",
    "OpportunityLineItem": "00k",
    "PricebookEntry": "01u",
    "User": "005",
}

# --------------------------------------------------------------------------------------
# Billing (Stripe). Each object is stored as its JSON document, rendered in
# STORED_STRIPE_VERSION, next to the few columns the list endpoints filter and sort on.
# `created` is epoch seconds. Lists sort newest first: ORDER BY created DESC, id DESC.
# --------------------------------------------------------------------------------------

BILLING_DDL = """
create table if not exists customers (
    id text primary key, created integer not null, deleted integer not null default 0,
    email text, doc text not null);
create table if not exists products (
    id text primary key, created integer not null, active integer not null default 1,
    doc text not null);
create table if not exists prices (
    id text primary key, created integer not null, product text not null,
    active integer not null default 1, currency text not null, doc text not null);
create table if not exists subscriptions (
    id text primary key, created integer not null, customer text not null,
    status text not null, price text, doc text not null);
create table if not exists invoices (
    id text primary key, created integer not null, customer text not null,
    subscription text, status text not null, doc text not null);
-- every line of every invoice; the invoice doc embeds the first 10 in `lines`
create table if not exists invoice_lines (
    invoice text not null, seq integer not null, id text not null, doc text not null,
    primary key (invoice, seq));
create table if not exists charges (
    id text primary key, created integer not null, customer text, invoice text,
    payment_intent text, doc text not null);
create table if not exists payment_intents (
    id text primary key, created integer not null, customer text, invoice text,
    doc text not null);
create table if not exists refunds (
    id text primary key, created integer not null, charge text, payment_intent text,
    doc text not null);
create table if not exists credit_notes (
    id text primary key, created integer not null, customer text, invoice text,
    doc text not null);
create table if not exists events (
    id text primary key, created integer not null, type text not null, doc text not null);
create index if not exists ix_customers_created on customers (created, id);
create index if not exists ix_products_created on products (created, id);
create index if not exists ix_prices_created on prices (created, id);
create index if not exists ix_subscriptions_created on subscriptions (created, id);
create index if not exists ix_subscriptions_customer on subscriptions (customer);
create index if not exists ix_invoices_created on invoices (created, id);
create index if not exists ix_invoices_customer on invoices (customer);
create index if not exists ix_invoices_subscription on invoices (subscription);
create index if not exists ix_charges_created on charges (created, id);
create index if not exists ix_payment_intents_created on payment_intents (created, id);
create index if not exists ix_refunds_created on refunds (created, id);
create index if not exists ix_credit_notes_created on credit_notes (created, id);
create index if not exists ix_events_created on events (created, id);
create index if not exists ix_events_type on events (type);
"""

# --------------------------------------------------------------------------------------
# ERP (NetSuite). SuiteQL tables and columns, lower case. Field types: int, float,
# currency, string, bool ('T'/'F'), date ('YYYY-MM-DD'), datetime ('YYYY-MM-DD HH:MM:SS',
# UTC). SuiteQL renders every value as a string, dates in NETSUITE_DATE_FORMAT, and omits
# NULL columns. `externalid` is unique per record type (customer, item, and transaction per
# `type`).
# --------------------------------------------------------------------------------------

ERP_FIELDS: dict[str, list[tuple[str, str]]] = {
    "subsidiary": [
        ("id", "int"),
        ("name", "string"),
        ("fullname", "string"),
        ("country", "string"),
        ("currency", "int"),  # currency.id: the functional currency
        ("parent", "int"),
        ("iselimination", "bool"),
        ("isinactive", "bool"),
        ("lastmodifieddate", "datetime"),
    ],
    "currency": [
        ("id", "int"),
        ("name", "string"),  # "US Dollar"
        ("symbol", "string"),  # ISO code: USD, EUR, GBP, JPY
        ("displaysymbol", "string"),
        ("currencyprecision", "int"),  # 2, or 0 for JPY
        ("isbasecurrency", "bool"),
        ("isinactive", "bool"),
        ("lastmodifieddate", "datetime"),
    ],
    "currencyrate": [
        ("id", "int"),
        ("basecurrency", "int"),  # currency.id (USD for the consolidated rates)
        ("transactioncurrency", "int"),  # currency.id
        ("exchangerate", "float"),  # 1 transactioncurrency = exchangerate basecurrency
        ("effectivedate", "date"),
        ("lastmodifieddate", "datetime"),
    ],
    "accountingperiod": [
        ("id", "int"),
        ("periodname", "string"),  # "Jan 2025"
        ("startdate", "date"),
        ("enddate", "date"),
        ("isquarter", "bool"),
        ("isyear", "bool"),
        ("isadjust", "bool"),
        ("isposting", "bool"),
        ("closed", "bool"),
        ("arlocked", "bool"),
        ("lastmodifieddate", "datetime"),
    ],
    "customer": [
        ("id", "int"),
        ("entityid", "string"),
        ("companyname", "string"),
        ("externalid", "string"),  # CRM Account Id
        ("email", "string"),
        ("subsidiary", "int"),
        ("currency", "int"),
        ("terms", "int"),
        ("custentity_cl_tax_id", "string"),
        ("isinactive", "bool"),
        ("datecreated", "datetime"),
        ("lastmodifieddate", "datetime"),
    ],
    "item": [
        ("id", "int"),
        ("itemid", "string"),  # = Salesforce Product2.ProductCode
        ("displayname", "string"),
        ("itemtype", "string"),  # Service
        ("externalid", "string"),  # Stripe product id
        ("isinactive", "bool"),
        ("lastmodifieddate", "datetime"),
    ],
    "transaction": [
        ("id", "int"),
        ("tranid", "string"),  # document number, e.g. INV0001234
        ("type", "string"),  # CustInvc, CustPymt, CustCred, CustRfnd
        ("trandate", "date"),
        ("duedate", "date"),
        ("entity", "int"),  # customer.id
        ("currency", "int"),  # currency.id
        ("exchangerate", "float"),  # to the subsidiary's currency
        ("foreigntotal", "currency"),  # header total in transaction currency
        ("foreignamountunpaid", "currency"),  # invoices: what is still open
        ("status", "string"),  # CustInvc: A open, B paid in full, V voided; ...
        ("postingperiod", "int"),  # accountingperiod.id
        ("externalid", "string"),  # Stripe in_/ch_/cn_ id (legacy integration)
        ("otherrefnum", "string"),  # Stripe id again (survives a lost externalid)
        ("memo", "string"),
        ("voided", "bool"),
        ("createddate", "datetime"),
        ("lastmodifieddate", "datetime"),
    ],
    "transactionline": [
        ("uniquekey", "int"),  # unique across all lines
        ("id", "int"),  # unique only within its transaction; 0 = main line
        ("transaction", "int"),
        ("linesequencenumber", "int"),
        ("mainline", "bool"),
        ("taxline", "bool"),
        ("item", "int"),
        ("quantity", "float"),
        ("rate", "currency"),
        ("foreignamount", "currency"),  # transaction currency; positive for revenue
        ("netamount", "currency"),  # subsidiary currency
        ("subsidiary", "int"),
        ("entity", "int"),
        ("memo", "string"),
        ("custcol_cl_service_start", "date"),  # the billing line's service period
        ("custcol_cl_service_end", "date"),
        ("linelastmodifieddate", "datetime"),
    ],
    # Which payment (nextdoc) is applied to which invoice (previousdoc), and how much.
    "previoustransactionlink": [
        ("previousdoc", "int"),
        ("nextdoc", "int"),
        ("linktype", "string"),  # Payment, Credit Memo
        ("foreignamount", "currency"),
        ("lastmodifieddate", "datetime"),
    ],
    # One row per deleted record (NetSuite's Deleted Record list): customers and transactions
    # removed through the record API, stamped with the sandbox clock.
    "deletedrecord": [
        ("recordid", "int"),  # internal id of the deleted record
        ("recordtypeid", "string"),  # record type: customer, invoice, customerpayment, ...
        ("name", "string"),  # what the record was called: entityid, or type and tranid
        ("deleteddate", "datetime"),
        ("context", "string"),  # where the delete came from (REST web services: WEBSERVICES)
        ("iscustomlist", "bool"),
        ("iscustomrecord", "bool"),
    ],
}

ERP_PRIMARY_KEY = {
    "subsidiary": ("id",),
    "currency": ("id",),
    "currencyrate": ("id",),
    "accountingperiod": ("id",),
    "customer": ("id",),
    "item": ("id",),
    "transaction": ("id",),
    "transactionline": ("uniquekey",),
    "previoustransactionlink": ("previousdoc", "nextdoc"),
    "deletedrecord": ("recordtypeid", "recordid"),
}

#: Bookkeeping tables of the ERP sandbox itself (not visible to SuiteQL).
ERP_INTERNAL_DDL = """
-- optimistic concurrency: one version per record, bumped by every write
create table if not exists _record_version (
    record_type text not null, id integer not null, version integer not null,
    primary key (record_type, id));
-- every write the record API accepted (tests count exactly what landed)
create table if not exists _write_log (
    seq integer primary key autoincrement, at text not null, method text not null,
    path text not null, record_type text not null, record_id integer,
    external_id text, idempotency_key text, request_body text, status integer not null);
-- replay of idempotent writes: same key gives the same answer, applied once
create table if not exists _idempotency (
    key text primary key, status integer not null, location text, at text not null);
-- writes that changed nothing: idempotent replays and refused requests (outcome =
-- 'replayed' | 'rejected'), kept apart so _write_log counts exactly what landed
create table if not exists _write_unapplied (
    seq integer primary key autoincrement, at text not null, method text not null,
    path text not null, idempotency_key text, request_body text, status integer not null,
    outcome text not null);
-- the highest key ever used per "table.column" whose row is gone: new records are numbered
-- above it, as NetSuite never reuses an internal id
create table if not exists _id_highwater (name text primary key, value integer not null);
"""

_SQL_TYPES = {
    "id": "text",
    "string": "text",
    "boolean": "integer",
    "bool": "text",
    "int": "integer",
    "double": "real",
    "float": "real",
    "currency": "text",  # exact decimal as text; never a float
    "date": "text",
    "datetime": "text",
}


def _sql_type(field_type: str) -> str:
    return "text" if field_type.startswith("reference:") else _SQL_TYPES[field_type]


def crm_ddl() -> str:
    """DDL of the CRM database: one table per Salesforce object, columns = fields."""
    parts = []
    for obj, fields in CRM_FIELDS.items():
        cols = ", ".join(
            f'"{name}" {_sql_type(t)}' + (" primary key" if name == "Id" else "")
            for name, t in fields
        )
        parts.append(f'create table if not exists "{obj}" ({cols});')
        parts.append(
            f'create index if not exists "ix_{obj}_modstamp" on "{obj}" ("SystemModstamp", "Id");'
        )
    return "\n".join(parts)


def erp_ddl() -> str:
    """DDL of the ERP database: SuiteQL tables plus the sandbox's bookkeeping tables."""
    parts = []
    for table, fields in ERP_FIELDS.items():
        cols = ", ".join(f'"{name}" {_sql_type(t)}' for name, t in fields)
        pk = ", ".join(f'"{c}"' for c in ERP_PRIMARY_KEY[table])
        parts.append(f'create table if not exists "{table}" ({cols}, primary key ({pk}));')
        if any(name == "lastmodifieddate" for name, _ in fields):
            parts.append(
                f'create index if not exists "ix_{table}_lmd" on "{table}" ("lastmodifieddate");'
            )
    parts.append('create index if not exists "ix_tl_txn" on "transactionline" ("transaction");')
    parts.append('create index if not exists "ix_txn_ext" on "transaction" ("type", "externalid");')
    parts.append('create index if not exists "ix_cust_ext" on "customer" ("externalid");')
    parts.append('create index if not exists "ix_deleted_date" on "deletedrecord" ("deleteddate");')
    parts.append(ERP_INTERNAL_DDL)
    return "\n".join(parts)


def connect(path: Path, *, readonly: bool = False) -> sqlite3.Connection:
    """Open a sandbox database with the pragmas every user of it wants."""
    if readonly:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    else:
        con = sqlite3.connect(path, check_same_thread=False)
        con.execute("pragma journal_mode=wal")
        con.execute("pragma synchronous=normal")
    con.execute("pragma busy_timeout=10000")
    return con


def create_all(paths: SandboxPaths) -> None:
    """Create the three databases (empty) with their tables."""
    paths.root.mkdir(parents=True, exist_ok=True)
    for path, ddl in ((paths.crm, crm_ddl()), (paths.billing, BILLING_DDL), (paths.erp, erp_ddl())):
        con = connect(path)
        try:
            con.executescript(ddl)
            con.commit()
        finally:
            con.close()
