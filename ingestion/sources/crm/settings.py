"""Constants of the CRM (Salesforce) source: API version, objects and field type mapping."""

from __future__ import annotations

from ingestion.edge import Field, as_bool, as_decimal, as_double, as_text, f, iso_date, sf_datetime

#: REST API version the connector speaks (Summer '24).
API_VERSION = "v61.0"

#: Salesforce objects landed, by raw table name (the object name in snake_case).
OBJECTS: dict[str, str] = {
    "account": "Account",
    "contact": "Contact",
    "product2": "Product2",
    "contract": "Contract",
    "opportunity": "Opportunity",
    "opportunity_line_item": "OpportunityLineItem",
}

#: The cursor field every object has; it moves on every change, system ones included.
CURSOR_FIELD = "SystemModstamp"

#: Records per query batch asked for (a hint: Salesforce may return fewer).
BATCH_SIZE = 2000

#: Describe `type` -> how the field lands. Anything else lands as text.
FIELD_TYPES: dict[str, Field] = {
    "boolean": Field("bool", as_bool),
    "int": f("bigint"),
    "double": Field("double", as_double),
    "percent": Field("double", as_double),
    "currency": Field("decimal", as_decimal),
    "date": Field("date", iso_date),
    "datetime": Field("timestamp", sf_datetime),
}
TEXT = Field("text", as_text)

#: Compound and binary fields: not selectable alongside their components, or not data.
SKIPPED_TYPES = frozenset({"address", "location", "base64"})
