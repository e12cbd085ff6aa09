"""Sandbox profiles: the company conventions a generated sandbox follows, read from TOML files.

A profile is data (`sandbox/profiles/<name>.toml`, or any `.toml` path): which Account.Type
picklist values the CRM uses, which Stripe metadata keys hold the cross-system links, how the
legacy ERP integration keys what it posts, how often FX rates are entered, which permissions
the ERP role has, and which optional Stripe fields the company never sets. A file may leave
keys out: they take `classic`'s values (today's sandbox). `load_profile` validates a file
and gives the resolved `Profile`; `Profile.as_json` is what `generate` writes to
`<sandbox>/profile.json`.
"""

from __future__ import annotations

import tomllib
import zlib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from sandbox.generator.money import CURRENCIES

#: where the shipped profiles live
PROFILES_DIR = Path(__file__).resolve().parents[1] / "profiles"
DEFAULT_PROFILE = "classic"

RATE_CADENCES = ("daily", "monthly", "irregular")
ITEM_EXTERNALIDS = ("product_id", "none")
REFERENCE_FIELDS = ("otherrefnum", "memo")
REFERENCE_VALUES = ("id", "number")
PAYMENT_KEYS = ("charge", "payment_intent")
AMENDMENT_AMOUNTS = ("total", "change")
#: optional Stripe fields a profile may declare never set (see docs/sandbox-data.md)
OPTIONAL_FIELDS = (
    "invoice.status_transitions.marked_uncollectible_at",
    "invoice.subscription_details.metadata",
    "invoice.discounts",
    "subscription.discounts",
    "subscription.trial_end",
)
#: SuiteQL tables a role without the matching permission may not read
PERMISSION_TABLES = {"deleted_records_permission": "deletedrecord"}


class ProfileError(ValueError):
    """A profile file that cannot be used (the message names the file and the key)."""


@dataclass(frozen=True)
class Profile:
    """One company's conventions, resolved (every axis has a value)."""

    name: str
    description: str
    # crm: Account.Type picklist values, with relative weights
    customer_types: tuple[tuple[str, float], ...]
    prospect_types: tuple[tuple[str, float], ...]
    stale_customer_share: float
    # billing (Stripe)
    customer_link_key: str
    subscription_link_key: str
    product_code_key: str
    unused_optional_fields: tuple[str, ...]
    #: share of new US-entity customers billed in Kuwaiti dinar (three decimals); 0 = none
    kwd_share: float
    # erp (NetSuite)
    item_externalid: str
    rate_cadence: str
    invoice_reference_field: str
    invoice_reference_value: str
    payment_key: str
    deleted_records_permission: bool
    # opportunities: an amendment's Amount is the contract's full new terms or the change
    amendment_amount: str = "total"
    #: share of card invoices retried after a failed charge that get a credit note before the
    #: retry (Stripe pre-payment credit note): the retry collects the rest, a payment partial
    #: against the invoice's total (its ERP payment applies that to the invoice, and the credit
    #: memo the credit); 0 = none
    prepayment_credit_share: float = 0.0
    #: share of new monthly-billed customers billed every 3 months instead (a Stripe price
    #: recurring month x interval_count 3, a CRM contract billed "Quarterly"); 0 = none
    quarterly_share: float = 0.0
    #: share of new customers that open a second Stripe customer in another currency a few
    #: weeks later, which the legacy integration posts as a second NetSuite customer in the
    #: subsidiary of that currency (one account, many billing and ERP customers); 0 = none
    multi_currency_share: float = 0.0

    # ------------------------------------------------------------------ behaviour
    @property
    def currencies(self) -> tuple[str, ...]:
        """The transaction currencies billed: the four of every sandbox, KWD if enabled."""
        return CURRENCIES + (("KWD",) if self.kwd_share > 0 else ())

    @property
    def fx_currencies(self) -> tuple[str, ...]:
        """The currencies the ERP rates against USD (all but USD)."""
        return tuple(c for c in self.currencies if c != "USD")

    def unused(self, field: str) -> bool:
        """Whether the company never sets this optional Stripe field."""
        return field in self.unused_optional_fields

    @property
    def denied_tables(self) -> list[str]:
        """SuiteQL tables the ERP role may not read (the ERP app answers as NetSuite does)."""
        return [t for key, t in PERMISSION_TABLES.items() if not getattr(self, key)]

    def bills_in_kwd(self, seed: int, account_id: str) -> bool:
        """Whether a new US-entity customer contracts in Kuwaiti dinar (`kwd_share`)."""
        return self.kwd_share > 0 and _unit(seed, "kwd", account_id) < self.kwd_share

    def bills_quarterly(self, seed: int, account_id: str) -> bool:
        """Whether a new monthly-billed customer is billed quarterly (`quarterly_share`)."""
        return (
            self.quarterly_share > 0 and _unit(seed, "quarterly", account_id) < self.quarterly_share
        )

    def opens_second_currency(self, seed: int, account_id: str) -> bool:
        """Whether a new customer later opens a second currency (`multi_currency_share`)."""
        return (
            self.multi_currency_share > 0
            and _unit(seed, "multi_currency", account_id) < self.multi_currency_share
        )

    def credits_before_retry(self, seed: int, invoice_id: str) -> bool:
        """Whether a retried card invoice is credited in part first (`prepayment_credit_share`)."""
        return (
            self.prepayment_credit_share > 0
            and _unit(seed, "prepayment_credit", invoice_id) < self.prepayment_credit_share
        )

    def prospect_type(self, seed: int, account_id: str) -> str:
        """Account.Type of a new (not yet customer) account."""
        return _pick(self.prospect_types, seed, "prospect", account_id)

    def customer_type(self, seed: int, account_id: str, current: str) -> str:
        """Account.Type once the account is onboarded as a customer.

        A share (`stale_customer_share`) of real customers keeps the value it had: the
        picklist is stale, and only behaviour tells that the account is a customer.
        """
        if self.stale_customer_share > 0 and (
            _unit(seed, "stale", account_id) < self.stale_customer_share
        ):
            return current
        return _pick(self.customer_types, seed, "customer", account_id)

    def as_json(self) -> dict[str, Any]:
        """The resolved profile as written to `<sandbox>/profile.json`."""
        return {
            "name": self.name,
            "description": self.description,
            "crm": {
                "customer_types": dict(self.customer_types),
                "prospect_types": dict(self.prospect_types),
                "stale_customer_share": self.stale_customer_share,
            },
            "billing": {
                "customer_link_key": self.customer_link_key,
                "subscription_link_key": self.subscription_link_key,
                "product_code_key": self.product_code_key,
                "unused_optional_fields": list(self.unused_optional_fields),
                "prepayment_credit_share": self.prepayment_credit_share,
                "quarterly_share": self.quarterly_share,
                "kwd_share": self.kwd_share,
                "multi_currency_share": self.multi_currency_share,
            },
            "erp": {
                "item_externalid": self.item_externalid,
                "rate_cadence": self.rate_cadence,
                "invoice_reference_field": self.invoice_reference_field,
                "invoice_reference_value": self.invoice_reference_value,
                "payment_key": self.payment_key,
                "deleted_records_permission": self.deleted_records_permission,
                "denied_tables": self.denied_tables,
            },
            "opportunities": {"amendment_amount": self.amendment_amount},
        }


def _unit(seed: int, salt: str, key: str) -> float:
    """A number in [0, 1) fixed by (seed, salt, key): no draw from the simulation's RNG, so a
    profile's choices never shift the rest of the history."""
    return zlib.crc32(f"{seed}:{salt}:{key}".encode()) / 2**32


def _pick(weights: tuple[tuple[str, float], ...], seed: int, salt: str, key: str) -> str:
    if len(weights) == 1:
        return weights[0][0]
    x = _unit(seed, salt, key) * sum(w for _, w in weights)
    for value, w in weights:
        if x < w:
            return value
        x -= w
    return weights[-1][0]


# ---------------------------------------------------------------------------------------------
# the file format: section -> key -> (attribute, validator)

_CLASSIC: dict[str, dict[str, Any]] = {
    "crm": {
        "customer_types": ["Customer"],
        "prospect_types": ["Prospect"],
        "stale_customer_share": 0.0,
    },
    "billing": {
        "customer_link_key": "crm_account_id",
        "subscription_link_key": "crm_contract_id",
        "product_code_key": "product_code",
        "unused_optional_fields": [],
        "prepayment_credit_share": 0.0,
        "quarterly_share": 0.0,
        "kwd_share": 0.0,
        "multi_currency_share": 0.0,
    },
    "erp": {
        "item_externalid": "product_id",
        "rate_cadence": "daily",
        "invoice_reference_field": "otherrefnum",
        "invoice_reference_value": "id",
        "payment_key": "charge",
        "deleted_records_permission": True,
    },
    "opportunities": {"amendment_amount": "total"},
}
_TOP_KEYS = ("description", "crm", "billing", "erp", "opportunities")
_CHOICES = {
    "item_externalid": ITEM_EXTERNALIDS,
    "rate_cadence": RATE_CADENCES,
    "invoice_reference_field": REFERENCE_FIELDS,
    "invoice_reference_value": REFERENCE_VALUES,
    "payment_key": PAYMENT_KEYS,
}


def _fail(source: str, key: str, message: str) -> ProfileError:
    return ProfileError(f"{source}: {key}: {message}")


def _weights(source: str, key: str, value: Any) -> tuple[tuple[str, float], ...]:
    """A picklist: a list of values (equal weights) or a table value -> weight."""
    if isinstance(value, list):
        items = [(v, 1.0) for v in value]
    elif isinstance(value, dict):
        items = list(value.items())
    else:
        raise _fail(source, key, "expected a list of values or a table of value = weight")
    if not items:
        raise _fail(source, key, "needs at least one value")
    out = []
    for v, w in items:
        if not isinstance(v, str) or not v.strip():
            raise _fail(source, key, f"picklist values are non-empty strings, got {v!r}")
        if isinstance(w, bool) or not isinstance(w, int | float) or w <= 0:
            raise _fail(source, key, f"weight of {v!r} must be a positive number, got {w!r}")
        out.append((v, float(w)))
    if len({v for v, _ in out}) != len(out):
        raise _fail(source, key, "a value is listed twice")
    return tuple(out)


def _key_name(source: str, key: str, value: Any, *, empty_ok: bool) -> str:
    if not isinstance(value, str):
        raise _fail(source, key, f"expected a string, got {value!r}")
    if not value and not empty_ok:
        raise _fail(source, key, "must not be empty")
    if value and not value.replace("_", "").replace("-", "").isalnum():
        raise _fail(source, key, f"a metadata key is letters, digits, _ and -; got {value!r}")
    return value


def _resolve(name: str, source: str, data: dict[str, Any]) -> Profile:
    for top in data:
        if top not in _TOP_KEYS:
            raise _fail(source, top, f"unknown key; expected one of {', '.join(_TOP_KEYS)}")
    merged: dict[str, dict[str, Any]] = {}
    for section, defaults in _CLASSIC.items():
        given = data.get(section, {})
        if not isinstance(given, dict):
            raise _fail(source, section, "expected a table ([section])")
        for key in given:
            if key not in defaults:
                raise _fail(
                    source,
                    f"{section}.{key}",
                    f"unknown key; {section} takes {', '.join(sorted(defaults))}",
                )
        merged[section] = {**defaults, **given}
    crm, billing, erp = merged["crm"], merged["billing"], merged["erp"]
    amendment_amount = merged["opportunities"]["amendment_amount"]
    if amendment_amount not in AMENDMENT_AMOUNTS:
        raise _fail(
            source,
            "opportunities.amendment_amount",
            f"expected one of {', '.join(AMENDMENT_AMOUNTS)}, got {amendment_amount!r}",
        )
    description = data.get("description", "")
    if not isinstance(description, str):
        raise _fail(source, "description", "expected a string")
    share = crm["stale_customer_share"]
    if isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share < 1:
        raise _fail(source, "crm.stale_customer_share", f"expected 0 <= share < 1, got {share!r}")
    for key, allowed in _CHOICES.items():
        if erp[key] not in allowed:
            raise _fail(
                source, f"erp.{key}", f"expected one of {', '.join(allowed)}, got {erp[key]!r}"
            )
    permission = erp["deleted_records_permission"]
    if not isinstance(permission, bool):
        raise _fail(
            source, "erp.deleted_records_permission", f"expected true or false, got {permission!r}"
        )
    kwd_share = billing["kwd_share"]
    if isinstance(kwd_share, bool) or not isinstance(kwd_share, int | float):
        raise _fail(source, "billing.kwd_share", f"expected 0 <= share < 1, got {kwd_share!r}")
    if not 0 <= kwd_share < 1:
        raise _fail(source, "billing.kwd_share", f"expected 0 <= share < 1, got {kwd_share!r}")
    prepayment = billing["prepayment_credit_share"]
    if (
        isinstance(prepayment, bool)
        or not isinstance(prepayment, int | float)
        or not 0 <= prepayment < 1
    ):
        raise _fail(
            source,
            "billing.prepayment_credit_share",
            f"expected 0 <= share < 1, got {prepayment!r}",
        )
    quarterly = billing["quarterly_share"]
    if isinstance(quarterly, bool) or not isinstance(quarterly, int | float):
        raise _fail(
            source, "billing.quarterly_share", f"expected 0 <= share < 1, got {quarterly!r}"
        )
    if not 0 <= quarterly < 1:
        raise _fail(
            source, "billing.quarterly_share", f"expected 0 <= share < 1, got {quarterly!r}"
        )
    multi = billing["multi_currency_share"]
    if isinstance(multi, bool) or not isinstance(multi, int | float) or not 0 <= multi < 1:
        raise _fail(
            source, "billing.multi_currency_share", f"expected 0 <= share < 1, got {multi!r}"
        )
    unused = billing["unused_optional_fields"]
    if not isinstance(unused, list):
        raise _fail(source, "billing.unused_optional_fields", "expected a list")
    for f in unused:
        if f not in OPTIONAL_FIELDS:
            raise _fail(
                source,
                "billing.unused_optional_fields",
                f"unknown field {f!r}; expected some of {', '.join(OPTIONAL_FIELDS)}",
            )
    customer_types = _weights(source, "crm.customer_types", crm["customer_types"])
    prospect_types = _weights(source, "crm.prospect_types", crm["prospect_types"])
    overlap = {v for v, _ in customer_types} & {v for v, _ in prospect_types}
    if overlap:
        raise _fail(
            source,
            "crm.customer_types",
            f"{sorted(overlap)} also in crm.prospect_types (a value means one or the other)",
        )
    return Profile(
        name=name,
        description=description,
        customer_types=customer_types,
        prospect_types=prospect_types,
        stale_customer_share=float(share),
        customer_link_key=_key_name(
            source, "billing.customer_link_key", billing["customer_link_key"], empty_ok=False
        ),
        subscription_link_key=_key_name(
            source,
            "billing.subscription_link_key",
            billing["subscription_link_key"],
            empty_ok=False,
        ),
        product_code_key=_key_name(
            source, "billing.product_code_key", billing["product_code_key"], empty_ok=True
        ),
        unused_optional_fields=tuple(sorted(set(unused))),
        prepayment_credit_share=float(prepayment),
        quarterly_share=float(quarterly),
        kwd_share=float(kwd_share),
        multi_currency_share=float(multi),
        item_externalid=erp["item_externalid"],
        rate_cadence=erp["rate_cadence"],
        invoice_reference_field=erp["invoice_reference_field"],
        invoice_reference_value=erp["invoice_reference_value"],
        payment_key=erp["payment_key"],
        deleted_records_permission=permission,
        amendment_amount=amendment_amount,
    )


def profile_names() -> list[str]:
    """The shipped profiles' names."""
    return sorted(p.stem for p in PROFILES_DIR.glob("*.toml"))


def profile_path(spec: str | Path) -> Path:
    """The file of a profile given by name (`northwind`) or by path (`./acme.toml`)."""
    text = str(spec)
    if text.endswith(".toml") or "/" in text or "\\" in text:
        return Path(text)
    return PROFILES_DIR / f"{text}.toml"


def load_profile(spec: str | Path | Profile = DEFAULT_PROFILE) -> Profile:
    """Read, validate and resolve a profile.

    Args:
        spec: a shipped profile's name, a path to a `.toml` file, or a `Profile` (returned).

    Raises:
        ProfileError: unknown profile, unreadable file, unknown key or bad value (the message
            names the file and the key).
    """
    if isinstance(spec, Profile):
        return spec
    path = profile_path(spec)
    if not path.is_file():
        if path.parent == PROFILES_DIR:
            raise ProfileError(
                f"unknown profile {str(spec)!r}; choose one of {', '.join(profile_names())}"
                " or give a path to a .toml file"
            )
        raise ProfileError(f"{path}: no such profile file")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{path}: not valid TOML: {exc}") from exc
    return _resolve(path.stem, str(path), data)


def classic() -> Profile:
    """Today's sandbox (the default), without reading a file."""
    return _resolve(DEFAULT_PROFILE, "<classic>", {})


#: field names of the resolved profile, in order (docs and tests)
PROFILE_FIELDS = tuple(f.name for f in fields(Profile))
CLASSIC = classic()
