"""Salesforce JSON shapes: query records with `attributes`, describe and describeGlobal bodies."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from sandbox.crm.soql import CATALOGUE, FieldInfo, ObjectInfo, RenderNode
from sandbox.schema import CRM_KEY_PREFIX

log = logging.getLogger(__name__)

_PLAIN_DECIMAL = re.compile(r"^-?\d+(?:\.\d+)?$")


def sobject_url(version: str, object_name: str, record_id: str) -> str:
    """The `attributes.url` of a record."""
    return f"/services/data/{version}/sobjects/{object_name}/{record_id}"


def _currency(value: Any) -> Any:
    """Currency as a JSON number that keeps the stored decimals exactly (`1250.50`)."""
    if value is None:
        return None
    text = str(value).strip()
    if _PLAIN_DECIMAL.match(text):
        return orjson.Fragment(text.encode())
    try:
        dec = Decimal(text)
    except InvalidOperation:
        log.warning("unparseable currency value %r rendered as null", value)
        return None
    if not dec.is_finite():
        log.warning("non-finite currency value %r rendered as null", value)
        return None
    return orjson.Fragment(format(dec, "f").encode())


def _boolean(value: Any) -> bool:
    # Salesforce checkboxes are never null; a missing value reads as false.
    return bool(value) if value is not None else False


def _int(value: Any) -> Any:
    return None if value is None else int(value)


def _double(value: Any) -> Any:
    return None if value is None else float(value)


def _same(value: Any) -> Any:
    return value


CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "boolean": _boolean,
    "int": _int,
    "double": _double,
    "currency": _currency,
}


def converter(info: FieldInfo) -> Callable[[Any], Any]:
    """How a stored value of this field becomes its JSON value."""
    return CONVERTERS.get(info.type, _same)


def render_records(
    rows: Sequence[Sequence[Any]], node: RenderNode, version: str
) -> list[dict[str, Any]]:
    """Render SQL rows (in result order) as Salesforce query records."""
    plan = _plan(node)
    return [_render(row, plan, version) for row in rows]


def _plan(node: RenderNode) -> tuple[str, int, list[tuple[str, Any, Any]]]:
    items: list[tuple[str, Any, Any]] = []
    for kind, name, payload in node.items:
        if kind == "rel":
            items.append((name, None, _plan(payload)))
        else:
            index, info = payload
            items.append((name, index, converter(info)))
    return node.object_name, node.id_column, items


def _render(
    row: Sequence[Any], plan: tuple[str, int, list[tuple[str, Any, Any]]], version: str
) -> dict[str, Any]:
    object_name, id_column, items = plan
    record: dict[str, Any] = {
        "attributes": {
            "type": object_name,
            "url": sobject_url(version, object_name, row[id_column]),
        }
    }
    for name, index, conv in items:
        if index is None:
            sub_id = row[conv[1]]
            record[name] = None if sub_id is None else _render(row, conv, version)
        else:
            record[name] = conv(row[index])
    return record


def render_full_record(
    row: Sequence[Any], obj: ObjectInfo, fields: Sequence[FieldInfo], version: str
) -> dict[str, Any]:
    """A record as `GET /sobjects/<Object>/<Id>` returns it (`row` matches `fields`)."""
    record: dict[str, Any] = {"attributes": {"type": obj.name, "url": ""}}
    for info, value in zip(fields, row, strict=True):
        record[info.name] = converter(info)(value)
    record["attributes"]["url"] = sobject_url(version, obj.name, row[0])
    return record


# --------------------------------------------------------------------------------------
# describe
# --------------------------------------------------------------------------------------

_SOAP_TYPE = {
    "id": "tns:ID",
    "reference": "tns:ID",
    "string": "xsd:string",
    "boolean": "xsd:boolean",
    "int": "xsd:int",
    "double": "xsd:double",
    "currency": "xsd:double",
    "date": "xsd:date",
    "datetime": "xsd:dateTime",
}
_SYSTEM_FIELDS = {"Id", "IsDeleted", "CreatedDate", "LastModifiedDate", "SystemModstamp"}
#: Fields Salesforce requires on these objects (not nillable).
_REQUIRED = {
    ("Account", "Name"),
    ("Contact", "LastName"),
    ("Contact", "Name"),
    ("Product2", "Name"),
    ("Contract", "AccountId"),
    ("Contract", "Status"),
    ("Contract", "ContractNumber"),
    ("Opportunity", "Name"),
    ("Opportunity", "StageName"),
    ("Opportunity", "CloseDate"),
    ("OpportunityLineItem", "OpportunityId"),
    ("OpportunityLineItem", "Quantity"),
    ("OpportunityLineItem", "TotalPrice"),
    ("OpportunityLineItem", "UnitPrice"),
}
_LABEL_SPLIT = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def _label(name: str) -> str:
    base = name.removesuffix("__c").replace("_", " ")
    if base.endswith("Id") and len(base) > 2:
        base = base[:-2] + " ID"
    return _LABEL_SPLIT.sub(" ", base).strip()


def _plural(label: str) -> str:
    return label[:-1] + "ies" if label.endswith("y") else label + "s"


def _field_describe(obj: ObjectInfo, info: FieldInfo) -> dict[str, Any]:
    ftype = info.type
    is_system = info.name in _SYSTEM_FIELDS
    nillable = not (is_system or ftype == "boolean" or (obj.name, info.name) in _REQUIRED)
    length = {"id": 18, "reference": 18, "string": 255}.get(ftype, 0)
    return {
        "aggregatable": ftype != "boolean",
        "autoNumber": info.name == "ContractNumber",
        "byteLength": length * 3,
        "calculated": obj.name == "Contact" and info.name == "Name",
        "createable": not is_system,
        "custom": info.name.endswith("__c"),
        "defaultValue": False if ftype == "boolean" else None,
        "digits": 9 if ftype == "int" else 0,
        "externalId": False,
        "filterable": True,
        "groupable": ftype not in ("double", "currency", "datetime"),
        "idLookup": info.name == "Id",
        "label": "Record ID" if info.name == "Id" else _label(info.name),
        "length": length,
        "name": info.name,
        "nillable": nillable,
        "picklistValues": [],
        "precision": 18 if ftype in ("double", "currency") else 0,
        "referenceTo": [info.reference_to] if info.reference_to else [],
        "relationshipName": info.relationship_name,
        "scale": 2 if ftype in ("double", "currency") else 0,
        "soapType": _SOAP_TYPE[ftype],
        "sortable": True,
        "type": ftype,
        "unique": False,
        "updateable": not is_system,
    }


def _urls(version: str, name: str) -> dict[str, str]:
    base = f"/services/data/{version}/sobjects/{name}"
    return {
        "rowTemplate": base + "/{ID}",
        "describe": base + "/describe",
        "sobject": base,
    }


def _object_summary(obj: ObjectInfo, version: str) -> dict[str, Any]:
    label = _label(obj.name) if obj.name != "Product2" else "Product"
    label = "Opportunity Product" if obj.name == "OpportunityLineItem" else label
    return {
        "activateable": False,
        "createable": True,
        "custom": obj.name.endswith("__c"),
        "customSetting": False,
        "deletable": True,
        "deprecatedAndHidden": False,
        "feedEnabled": False,
        "keyPrefix": CRM_KEY_PREFIX.get(obj.name),
        "label": label,
        "labelPlural": _plural(label),
        "layoutable": True,
        "mergeable": obj.name in ("Account", "Contact"),
        "name": obj.name,
        "queryable": True,
        "replicateable": True,
        "retrieveable": True,
        "searchable": True,
        "triggerable": True,
        "undeletable": True,
        "updateable": True,
        "urls": _urls(version, obj.name),
    }


def describe_global(version: str) -> dict[str, Any]:
    """The body of `GET /services/data/vNN.N/sobjects/`."""
    return {
        "encoding": "UTF-8",
        "maxBatchSize": 200,
        "sobjects": [_object_summary(obj, version) for obj in CATALOGUE.values()],
    }


def describe_sobject(obj: ObjectInfo, version: str) -> dict[str, Any]:
    """The body of `GET .../sobjects/<Object>/describe/`."""
    children = []
    for child in CATALOGUE.values():
        for info in child.fields.values():
            if info.reference_to == obj.name:
                children.append(
                    {
                        "cascadeDelete": False,
                        "childSObject": child.name,
                        "deprecatedAndHidden": False,
                        "field": info.name,
                        "relationshipName": _plural(child.name),
                    }
                )
    body = _object_summary(obj, version)
    body.update(
        {
            "childRelationships": children,
            "fields": [_field_describe(obj, info) for info in obj.fields.values()],
            "recordTypeInfos": [],
        }
    )
    return dict(sorted(body.items()))


def sobject_basic_info(obj: ObjectInfo, version: str) -> dict[str, Any]:
    """The body of `GET .../sobjects/<Object>/` (summary plus recent items)."""
    return {"objectDescribe": _object_summary(obj, version), "recentItems": []}
