"""What the tests hold the project to, written once: the reconciliation's exception types."""

from __future__ import annotations

#: The exception types of the contract (docs/sandbox-data.md): the sandbox injects every one of
#: them, the recon may add more, never rename.
EXCEPTION_TYPES = frozenset(
    {
        "customer_missing_in_billing",
        "customer_missing_in_erp",
        "customer_attribute_mismatch",
        "subscription_missing",
        "contract_subscription_mismatch",
        "invoice_missing_in_erp",
        "invoice_duplicate_in_erp",
        "invoice_amount_mismatch",
        "invoice_currency_mismatch",
        "invoice_status_mismatch",
        "payment_missing_in_erp",
        "payment_amount_mismatch",
        "refund_missing_in_erp",
        "credit_note_missing_in_erp",
        "payment_unapplied_in_erp",
        "payment_duplicate_in_erp",
    }
)
