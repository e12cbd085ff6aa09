"""NetSuite REST record API over erp.sqlite: customer, invoice, customerpayment, creditmemo.

Record JSON uses NetSuite's camelCase field names and maps onto the SuiteQL tables. Writes
answer 204 with a `Location` header. Sandbox extensions (documented, not in NetSuite):

- Optimistic concurrency: GET sends `ETag: "<version>"`; PATCH/PUT/DELETE/transform with an
  `If-Match` that does not match get 412. Every write bumps the version of each record it
  changes (a payment bumps the invoices it is applied to).
- Bookkeeping: every accepted write appends one row to `_write_log`. Writes that change
  nothing, namely idempotent replays (`outcome='replayed'`) and refused requests
  (`outcome='rejected'`), go to `_write_unapplied` instead, so `count(*) from _write_log` is
  exactly what landed.
- Idempotency: a repeated `X-NetSuite-Idempotency-Key` returns the first answer (204 and the
  same `Location`) and applies nothing; the same key on a different request is a 400. Only
  accepted writes store their key, so a refused request may be retried with the same key.
- Sublists: GET embeds `item` / `apply` lines (as with `expandSubResources=true`); a PATCH
  that sends a sublist replaces it whole.

As in NetSuite, a customerpayment names its customer `customer` (invoices and credit memos use
`entity`). New payments get status C (Deposited) and no `foreignamountunpaid`, like the
generator's; invoices go A -> B when their open amount reaches 0; credit memos A -> B when
fully applied. References accept `{"id": ...}` or `{"externalId": ...}`.

The code lives in one module per job; this module re-exports their public names:

- `record_endpoints`: the Starlette endpoints, query checks and response shaping;
- `record_idempotency`: one write in one transaction, its idempotency key and write logs;
- `record_reads` and `record_writes`: records out of and into erp.sqlite;
- `record_validation`: field values; `record_common`: record types, fields, errors, versions.
"""

from sandbox.erp.record_common import (
    APPLY_FIELDS,
    CUSTOMER_FIELDS,
    FINANCIAL_FIELDS,
    LINE_FIELDS,
    MAX_BODY_BYTES,
    READ_ONLY_FIELDS,
    RECORD_PREFIX,
    RECORD_TYPES,
    STATUS_NAMES,
    TRANID_PREFIX,
    TXN_FIELDS,
    TYPE_TO_RECORD,
)
from sandbox.erp.record_endpoints import (
    collection_endpoint,
    instance_endpoint,
    transform_endpoint,
)
from sandbox.erp.record_reads import read_customer, read_record, read_transaction, resolve_id
from sandbox.erp.record_writes import (
    DELETE_CONTEXT,
    delete_customer,
    delete_transaction,
    transform_to_creditmemo,
    write_customer,
    write_transaction,
)

__all__ = [
    "APPLY_FIELDS",
    "CUSTOMER_FIELDS",
    "DELETE_CONTEXT",
    "FINANCIAL_FIELDS",
    "LINE_FIELDS",
    "MAX_BODY_BYTES",
    "READ_ONLY_FIELDS",
    "RECORD_PREFIX",
    "RECORD_TYPES",
    "STATUS_NAMES",
    "TRANID_PREFIX",
    "TXN_FIELDS",
    "TYPE_TO_RECORD",
    "collection_endpoint",
    "delete_customer",
    "delete_transaction",
    "instance_endpoint",
    "read_customer",
    "read_record",
    "read_transaction",
    "resolve_id",
    "transform_endpoint",
    "transform_to_creditmemo",
    "write_customer",
    "write_transaction",
]
