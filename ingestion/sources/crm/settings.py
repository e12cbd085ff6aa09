"""Constants of the CRM (Salesforce) source: API version, objects and field type mapping."""

from __future__ import annotations

from ingestion.edge import (
    Field,
    Kind,
    as_bool,
    as_decimal,
    as_double,
    as_text,
    f,
    iso_date,
    sf_datetime,
)

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

#: Objects the run goes on without, with one warning, when the integration user may not read
#: them (SOURCES__CRM__OPTIONAL_OBJECTS, comma-separated API names): no model downstream of
#: staging needs them. Every other object is required: a refusal fails the run.
OPTIONAL_OBJECTS = "Contact"

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

#: The fields the models read, by object, with their kinds: declared, so each column exists from
#: the first load even when the org lacks the field (a custom field, `CurrencyIsoCode` outside
#: multi-currency orgs), hides it from the integration user (field-level security) or no record
#: has set it. The describe's own type wins when the org has the field.
DECLARED: dict[str, dict[str, Kind]] = {
    "Account": {
        "OwnerId": "text", "Name": "text", "Type": "text", "Industry": "text",
        "Website": "text", "Phone": "text", "BillingStreet": "text", "BillingCity": "text",
        "BillingPostalCode": "text", "BillingCountry": "text", "Tax_Id__c": "text",
        "CurrencyIsoCode": "text", "NumberOfEmployees": "bigint", "CreatedDate": "timestamp",
        "LastModifiedDate": "timestamp", "IsDeleted": "bool",
    },
    "Contact": {
        "AccountId": "text", "FirstName": "text", "LastName": "text", "Name": "text",
        "Email": "text", "Title": "text", "Phone": "text", "CreatedDate": "timestamp",
        "IsDeleted": "bool",
    },
    "Product2": {
        "ProductCode": "text", "Name": "text", "Family": "text", "Description": "text",
        "IsActive": "bool", "CreatedDate": "timestamp", "IsDeleted": "bool",
    },
    "Contract": {
        "AccountId": "text", "ContractNumber": "text", "Status": "text",
        "Billing_Frequency__c": "text", "CurrencyIsoCode": "text", "ContractTerm": "bigint",
        "StartDate": "date", "EndDate": "date", "ActivatedDate": "timestamp",
        "CreatedDate": "timestamp", "LastModifiedDate": "timestamp", "IsDeleted": "bool",
    },
    "Opportunity": {
        "AccountId": "text", "ContractId": "text", "Name": "text", "StageName": "text",
        "Type": "text", "CurrencyIsoCode": "text", "Amount": "decimal", "Probability": "double",
        "IsClosed": "bool", "IsWon": "bool", "CloseDate": "date", "CreatedDate": "timestamp",
        "LastModifiedDate": "timestamp", "IsDeleted": "bool",
    },
    "OpportunityLineItem": {
        "OpportunityId": "text", "Product2Id": "text", "PricebookEntryId": "text",
        "Name": "text", "Description": "text", "Quantity": "double", "UnitPrice": "decimal",
        "ListPrice": "decimal", "TotalPrice": "decimal", "ServiceDate": "date",
        "CreatedDate": "timestamp", "IsDeleted": "bool",
    },
}  # fmt: skip
#: How each declared kind parses Salesforce's wire values (as the describe types do).
KIND_FIELDS: dict[str, Field] = {
    "text": TEXT,
    "bigint": FIELD_TYPES["int"],
    "bool": FIELD_TYPES["boolean"],
    "double": FIELD_TYPES["double"],
    "decimal": FIELD_TYPES["currency"],
    "date": FIELD_TYPES["date"],
    "timestamp": FIELD_TYPES["datetime"],
}
