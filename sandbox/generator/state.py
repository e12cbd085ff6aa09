"""The simulation's live state: what the generator keeps in memory (and pickles for `advance`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sandbox.generator.revenue import RevenueBook


@dataclass(slots=True)
class Customer:
    """One company as the three systems know it (CRM account, Stripe customer, ERP customer)."""

    n: int
    account_id: str
    sub_key: str  # subsidiary key: US, EU, UK, JP
    country: str
    currency: str  # billing currency, ISO upper case
    name: str  # CRM Account.Name (the truth)
    email: str
    domain: str
    tax_id: str
    city: str
    street: str
    postal: str
    phone: str
    industry: str
    employees: int
    account_row: dict[str, Any]
    wire: bool = False  # enterprise: annual plans, usage invoices, pays by bank wire
    stripe_id: str | None = None
    stripe_created: int = 0
    stripe_name: str = ""
    stripe_meta: bool = True  # metadata.crm_account_id present
    stripe_deleted: bool = False
    stripe_deleted_at: int = 0
    invoice_prefix: str = ""
    invoice_seq: int = 0
    erp_id: int | None = None
    erp_name: str = ""
    erp_extid: bool = True
    erp_created: int = 0
    erp_modified: int = 0
    erp_written: bool = False
    erp_name_written: str = ""
    billing_missing_gt: str | None = None
    erp_missing_gt: str | None = None
    attr_fault: bool = False
    subs: list[str] = field(default_factory=list)  # live (non-canceled) subscription ids
    contracts: list[str] = field(default_factory=list)
    open_invoices: list[str] = field(default_factory=list)  # send_invoice ones awaiting a wire
    churned_at: int = 0


@dataclass(slots=True)
class SubItem:
    """A subscription item (`si_...`): one product at one price and quantity."""

    id: str
    created: int
    code: str  # product code
    quantity: int


@dataclass(slots=True)
class Contract:
    """A Salesforce Contract and its terms as the CRM states them."""

    id: str
    number: str
    account_id: str
    cust: int
    start: str  # YYYY-MM-DD
    end: str  # inclusive
    term: int
    frequency: str  # Monthly, Annual
    currency: str
    activated_at: int
    created: int
    modified: int
    status: str = "Activated"
    terms: dict[str, int] = field(default_factory=dict)  # product code -> quantity (CRM view)
    sub_id: str | None = None
    sub_missing_gt: str | None = None


@dataclass(slots=True)
class Subscription:
    """A Stripe subscription."""

    id: str
    cust: int
    contract_id: str
    created: int
    anchor: int
    interval: str  # month, year
    currency: str
    collection: str  # charge_automatically, send_invoice
    items: list[SubItem]
    contract_end: int  # epoch when the contract term ends (next renewal decision point)
    period_index: int = 0
    cps: int = 0
    cpe: int = 0
    status: str = "active"
    cancel_at_period_end: bool = False
    canceled_at: int | None = None
    ended_at: int | None = None
    cancel_reason: str | None = None
    latest_invoice: str | None = None
    pending: list[dict[str, Any]] = field(default_factory=list)  # proration invoice items
    faulted: bool = False
    version: int = 0
    failing: int = 0  # invoices currently failing payment


@dataclass(slots=True)
class Invoice:
    """A Stripe invoice (finalized) with what the ERP posting of it looks like."""

    id: str
    cust: int
    currency: str
    sub_id: str | None
    created: int
    finalized_at: int
    number: str
    billing_reason: str
    collection: str
    period_start: int
    period_end: int
    #: each line item's JSON (the invoice embeds the first 10, invoice_lines holds all)
    line_blobs: list[bytes]
    #: per line: id, price id, amount, quantity, proration, period start, period end, text
    line_meta: list[tuple[str, str, int, int, bool, int, int, str]]
    total: int
    due_date: int | None
    contract_id: str | None = None  # the subscription's metadata when it was invoiced
    status: str = "open"
    paid_at: int | None = None
    voided_at: int | None = None
    uncollectible_at: int | None = None
    amount_paid: int = 0
    attempt_count: int = 0
    next_attempt: int | None = None
    charge: str | None = None
    pi: str | None = None
    pi_status: str | None = None
    pi_created: int = 0
    pi_error: dict[str, Any] | None = None
    paid_oob: bool = False
    cn_amount: int = 0
    #: the part of cn_amount credited before payment (Stripe pre_payment_credit_notes_amount):
    #: it lowers amount_due, so the payment is partial against the invoice's total
    pre_cn_amount: int = 0
    settled_at: int | None = None
    # ERP posting
    erp_id: int | None = None
    erp_tranid: str = ""
    erp_created: int = 0
    erp_modified: int = 0
    erp_written: bool = False
    erp_fault: str | None = None  # planned/applied fault type on the invoice family
    erp_gt: str | None = None
    erp_dup_id: int | None = None
    erp_wrong_total: int | None = None
    erp_wrong_currency: str | None = None
    erp_status_fault: bool = False
    erp_paid: bool = False  # a payment (charge or wire) is posted and applied in the ERP
    erp_state: tuple[str, int] | None = None  # (status, unpaid) as last written by us
    lines_written: bool = False


@dataclass(slots=True)
class LedgerState:
    """Running KPI aggregates (minor units / USD cents), keyed by (month, currency)."""

    billings: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    billings_voided: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    ar_written_off: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    credit_notes: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    collections: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    refunds: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    #: won opportunities at the delta (docs/metrics.md, Bookings); bookings = the four parts
    bookings: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    bookings_new: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    bookings_expansion: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    bookings_contraction: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    bookings_renewal: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    #: month -> metric -> currency -> minor amount (mrr*, open_ar), complete months only
    snapshots: dict[str, dict[str, dict[str, int]]] = field(default_factory=dict)
    #: per billing customer MRR (minor) at the last complete month end
    mrr_prev: dict[int, int] = field(default_factory=dict)
    mrr_ever: set[int] = field(default_factory=set)
    #: month -> billing customer -> (currency, MRR in minor units) at that month end (or now)
    mrr_customers: dict[str, dict[int, tuple[str, int]]] = field(default_factory=dict)
    #: invoice lines, credit notes, voids and write-offs for revenue (sandbox/generator/revenue)
    revenue: RevenueBook = field(default_factory=RevenueBook)
