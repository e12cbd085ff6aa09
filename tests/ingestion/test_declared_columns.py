"""Raw tables declare the documented vendor fields the models read: each column exists from the
first load with its type, null until some record sets it (dlt alone adds a column only once a
record has a value)."""

from __future__ import annotations

import re
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest
from dlt.common.normalizers.naming.snake_case import NamingConvention

from ingestion.pipelines import run_ingest
from ingestion.sources.billing.settings import SPECS
from ingestion.sources.crm import _spec
from ingestion.sources.crm.settings import DECLARED as CRM_DECLARED
from ingestion.sources.crm.settings import OBJECTS
from ingestion.sources.erp.settings import TABLES
from tests.ingestion.support import env_for, patched_env, served, warehouse

ROOT = Path(__file__).resolve().parents[2]
NAMING = NamingConvention()
#: DuckDB's type of each declared kind.
DUCKDB_TYPES = {
    "text": "VARCHAR",
    "bigint": "BIGINT",
    "bool": "BOOLEAN",
    "double": "DOUBLE",
    "decimal": "DECIMAL(38,9)",
    "timestamp": "TIMESTAMP WITH TIME ZONE",
    "date": "DATE",
    "json": "VARCHAR",
}
#: Optional fields no record of the test's landing sets: removed from the sandbox's records.
STRIPPED_BILLING = {
    "invoices": ("status_transitions.marked_uncollectible_at", "due_date"),
    "subscriptions": ("canceled_at", "cancel_at", "ended_at", "trial_end"),
}
STRIPPED_ERP = {"transaction": ("otherrefnum", "memo"), "transactionline": ("memo",)}


def _declared() -> dict[str, dict[str, dict[str, str]]]:
    """raw dataset -> table -> landed column -> kind, as the sources declare them."""
    crm = {
        table: {NAMING.normalize_path(n): k for n, k in CRM_DECLARED[obj].items()}
        for table, obj in OBJECTS.items()
    }
    billing = {
        table: {NAMING.normalize_path(n): fld.kind for n, fld in spec.known.items()}
        for table, spec in SPECS.items()
    }
    erp = {
        table: dict(conf.fields)
        for table, conf in TABLES.items()
        if table != "deletedrecord"  # read only with the Deleted Records permission
    }
    return {"raw_crm": crm, "raw_billing": billing, "raw_erp": erp}


def _staging_reads() -> dict[tuple[str, str], set[str]]:
    """(raw dataset, table) -> the columns staging reads through `raw_column`."""
    out: dict[tuple[str, str], set[str]] = {}
    for path in sorted((ROOT / "dbt_project/models/staging").glob("*/*.sql")):
        text = path.read_text()
        # the columns read through `cols` belong to the source `cols` was read from (a model may
        # name another source too, e.g. a parent in a point-in-time build)
        sources = set(re.findall(r"\bcols = raw_columns\(source\('(\w+)',\s*'(\w+)'\)\)", text))
        cols = set(re.findall(r"raw_column\(\s*cols,\s*'([^']+)'", text))
        for source in sources:
            out.setdefault(source, set()).update(cols)
    return out


def test_every_column_staging_reads_is_declared() -> None:
    declared = _declared()
    always = {"raw_crm": {"id", "system_modstamp"}}  # in every Salesforce describe
    for (dataset, table), cols in _staging_reads().items():
        have = set(declared[dataset][table]) | always.get(dataset, set())
        # metadata keys are each company's own (dbt vars name them), not vendor fields
        missing = {c for c in cols if not c.startswith("metadata__")} - have
        assert not missing, f"{dataset}.{table} does not declare {sorted(missing)}"


def test_a_declared_crm_field_the_org_lacks_becomes_a_typed_null_column() -> None:
    describe = {
        "fields": [
            {"name": "Id", "type": "id"},
            {"name": "Name", "type": "string"},
            {"name": "NumberOfEmployees", "type": "int"},
            {"name": "Tax_ID__c", "type": "string"},  # the org spells it otherwise
            {"name": "SystemModstamp", "type": "datetime"},
        ]
    }
    spec, selected = _spec("account", describe, "Account")
    assert selected == ["Id", "Name", "NumberOfEmployees", "Tax_ID__c", "SystemModstamp"]
    assert spec.known["CurrencyIsoCode"].kind == "text"  # not a multi-currency org
    assert spec.known["CreatedDate"].kind == "timestamp"
    assert "Tax_Id__c" not in spec.known  # one column, the org's


@pytest.fixture(scope="module")
def stripped_home(
    small_sandbox_home: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    """The small sandbox with some optional fields set on no record, landed once."""
    home = tmp_path_factory.mktemp("declared-columns")
    shutil.copytree(small_sandbox_home / "sandbox", home / "sandbox")
    con = sqlite3.connect(home / "sandbox" / "billing.sqlite")
    with con:
        for table, fields in STRIPPED_BILLING.items():
            for name in fields:
                con.execute(f"update {table} set doc = json_remove(doc, '$.{name}')")
                con.execute(f"update events set doc = json_remove(doc, '$.data.object.{name}')")
    con.close()
    con = sqlite3.connect(home / "sandbox" / "erp.sqlite")
    with con:
        for table, fields in STRIPPED_ERP.items():
            for name in fields:
                con.execute(f'update "{table}" set "{name}" = null')
    con.close()
    with served(home) as sandbox, patched_env(env_for(home, sandbox.urls)):
        run_ingest(["crm", "billing", "erp"])
    yield home


def _landed_types(home: Path) -> dict[tuple[str, str], dict[str, str]]:
    con = warehouse(home)
    try:
        rows = con.execute(
            "select table_schema, table_name, column_name, data_type "
            "from information_schema.columns where table_schema like 'raw_%'"
        ).fetchall()
    finally:
        con.close()
    out: dict[tuple[str, str], dict[str, str]] = {}
    for schema, table, column, data_type in rows:
        out.setdefault((schema, table), {})[column] = data_type
    return out


def test_declared_columns_exist_with_their_types(stripped_home: Path) -> None:
    landed = _landed_types(stripped_home)
    for dataset, tables in _declared().items():
        for table, columns in tables.items():
            have = landed[(dataset, table)]
            for column, kind in columns.items():
                assert have.get(column) == DUCKDB_TYPES[kind], (dataset, table, column)


def test_fields_no_record_sets_land_as_typed_nulls(stripped_home: Path) -> None:
    con = warehouse(stripped_home)
    try:
        checks = [
            ("raw_billing.invoices", "status_transitions__marked_uncollectible_at", "BIGINT"),
            ("raw_billing.invoices", "due_date", "BIGINT"),
            ("raw_billing.subscriptions", "canceled_at", "BIGINT"),
            ("raw_billing.subscriptions", "trial_end", "BIGINT"),
            ("raw_erp.transaction", "otherrefnum", "VARCHAR"),
            ("raw_erp.transaction", "memo", "VARCHAR"),
            ("raw_erp.transactionline", "memo", "VARCHAR"),
        ]
        for table, column, data_type in checks:
            rows, values = con.execute(f"select count(*), count({column}) from {table}").fetchone()
            assert rows > 0 and values == 0, (table, column)
            schema, name = table.split(".")
            [(landed,)] = con.execute(
                "select data_type from information_schema.columns where table_schema = ? "
                "and table_name = ? and column_name = ?",
                [schema, name, column],
            ).fetchall()
            assert landed == data_type
    finally:
        con.close()
