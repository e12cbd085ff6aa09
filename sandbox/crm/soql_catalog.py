"""The SOQL catalogue of sObjects and fields (from CRM_FIELDS), and Salesforce id normalisation."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sandbox.ids import sf_case_safe_suffix
from sandbox.schema import CRM_FIELDS

# --------------------------------------------------------------------------------------
# Catalogue
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldInfo:
    """One field of an sObject as the catalogue types it."""

    name: str
    type: str  # id, reference, string, boolean, int, double, currency, date, datetime
    reference_to: str | None = None
    relationship_name: str | None = None


@dataclass(frozen=True)
class ObjectInfo:
    """One sObject: its fields by lower-case name and its parent relationships."""

    name: str
    fields: dict[str, FieldInfo]  # lower-case name -> field, in catalogue order
    relationships: dict[str, FieldInfo]  # lower-case relationship name -> reference field


def _relationship_name(field_name: str) -> str:
    if field_name.endswith("__c"):
        return field_name[:-3] + "__r"
    return field_name[:-2] if field_name.endswith("Id") else field_name


def _build_catalogue() -> dict[str, ObjectInfo]:
    catalogue: dict[str, ObjectInfo] = {}
    for obj, fields in CRM_FIELDS.items():
        by_name: dict[str, FieldInfo] = {}
        rels: dict[str, FieldInfo] = {}
        for name, ftype in fields:
            if ftype.startswith("reference:"):
                target = ftype.split(":", 1)[1]
                info = FieldInfo(name, "reference", target, _relationship_name(name))
                if target in CRM_FIELDS:
                    rels[info.relationship_name.lower()] = info  # type: ignore[union-attr]
            else:
                info = FieldInfo(name, ftype)
            by_name[name.lower()] = info
        catalogue[obj.lower()] = ObjectInfo(obj, by_name, rels)
    return catalogue


CATALOGUE: dict[str, ObjectInfo] = _build_catalogue()


def lookup_object(name: str) -> ObjectInfo | None:
    """The catalogued sObject named `name` (case-insensitive), or None."""
    return CATALOGUE.get(name.lower())


# --------------------------------------------------------------------------------------
# Ids
# --------------------------------------------------------------------------------------

_ID_RE = re.compile(r"^[A-Za-z0-9]{15}(?:[A-Za-z0-9]{3})?$")
_SUFFIX_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def normalize_id(value: str) -> str | None:
    """The canonical 18-character form of a 15- or 18-character Salesforce id, else None.

    An 18-character id is case-insensitive: its suffix says which of the first 15 characters
    are upper case, so a lower-cased copy still names the same record.
    """
    if not _ID_RE.match(value):
        return None
    if len(value) == 15:
        return value + sf_case_safe_suffix(value)
    chars = list(value[:15])
    for chunk, flag in enumerate(value[15:].upper()):
        bits = _SUFFIX_CHARS.find(flag)
        if bits < 0:
            return None
        for i in range(5):
            pos = chunk * 5 + i
            if chars[pos].isalpha():
                chars[pos] = chars[pos].upper() if bits & (1 << i) else chars[pos].lower()
    id15 = "".join(chars)
    return id15 + sf_case_safe_suffix(id15)
