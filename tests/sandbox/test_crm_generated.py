"""The CRM API over the generator's `small` company: every row comes back, typed as Salesforce."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from sandbox.crm import create_app
from sandbox.generator import advance, generate
from sandbox.schema import CRM_FIELDS, SandboxPaths, connect

BASE = "/services/data/v61.0"
DATETIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$")
DATE = re.compile(r"^\d{4}-\d\d-\d\d$")
ID18 = re.compile(r"^[A-Za-z0-9]{18}$")


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, Path]]:
    paths = SandboxPaths(tmp_path_factory.mktemp("gen") / "sandbox")
    generate(paths, seed=1, scale="small")
    with TestClient(create_app(paths)) as client:
        yield client, paths.crm


def read_all(client: TestClient, soql: str, endpoint: str = "query") -> list[dict[str, Any]]:
    headers = {"Sforce-Query-Options": "batchSize=200"}
    page = client.get(f"{BASE}/{endpoint}", params={"q": soql}, headers=headers).json()
    records = list(page["records"])
    total = page["totalSize"]
    while not page["done"]:
        page = client.get(page["nextRecordsUrl"]).json()
        records.extend(page["records"])
    assert len(records) == total
    return records


@pytest.mark.parametrize("obj", list(CRM_FIELDS))
def test_full_paged_read_returns_every_row(generated: tuple[TestClient, Path], obj: str) -> None:
    client, db = generated
    con = connect(db, readonly=True)
    try:
        every = [r[0] for r in con.execute(f'select "Id" from "{obj}" order by "Id"')]
        live = [
            r[0]
            for r in con.execute(f'select "Id" from "{obj}" where not "IsDeleted" order by "Id"')
        ]
    finally:
        con.close()
    assert [r["Id"] for r in read_all(client, f"SELECT Id FROM {obj}", "queryAll")] == every
    assert [r["Id"] for r in read_all(client, f"SELECT Id FROM {obj}")] == live


@pytest.mark.parametrize("obj", list(CRM_FIELDS))
def test_every_field_renders_with_its_salesforce_type(
    generated: tuple[TestClient, Path], obj: str
) -> None:
    client, _ = generated
    fields = CRM_FIELDS[obj]
    soql = f"SELECT {', '.join(name for name, _ in fields)} FROM {obj}"
    records = read_all(client, soql, "queryAll")
    assert records, f"the generator made no {obj}"
    for record in records:
        assert record["attributes"]["type"] == obj
        assert list(record)[1:] == [name for name, _ in fields]
        for name, ftype in fields:
            value = record[name]
            if ftype == "boolean":
                assert isinstance(value, bool), (name, value)
            elif value is None:
                continue
            elif ftype == "datetime":
                assert DATETIME.match(value), (name, value)
            elif ftype == "date":
                assert DATE.match(value), (name, value)
            elif ftype == "id" or ftype.startswith("reference:"):
                assert ID18.match(value), (name, value)
            elif ftype in ("int",):
                assert isinstance(value, int), (name, value)
            elif ftype in ("double", "currency"):
                assert isinstance(value, int | float), (name, value)
            else:
                assert isinstance(value, str), (name, value)


def test_parent_fields_and_clock_on_generated_data(generated: tuple[TestClient, Path]) -> None:
    client, _ = generated
    records = read_all(client, "SELECT Id, AccountId, Account.Name FROM Opportunity")
    for r in records:
        if r["AccountId"] is None:
            assert r["Account"] is None
        else:
            assert r["Account"]["attributes"]["url"].endswith("/" + r["AccountId"])
    everything = client.get(f"{BASE}/query", params={"q": "SELECT COUNT() FROM Account"}).json()
    until_now = client.get(
        f"{BASE}/query", params={"q": "SELECT COUNT() FROM Account WHERE CreatedDate <= TODAY"}
    ).json()
    assert until_now["totalSize"] == everything["totalSize"] > 0


def test_cursor_survives_advance_and_modstamp_finds_the_changes(tmp_path: Path) -> None:
    paths = SandboxPaths(tmp_path / "sandbox")
    generate(paths, seed=1, scale="small")
    con = connect(paths.crm, readonly=True)
    before = {r[0]: r[1] for r in con.execute('select "Id", "SystemModstamp" from "Opportunity"')}
    con.close()
    high_water = max(before.values())
    with TestClient(create_app(paths)) as client:
        headers = {"Sforce-Query-Options": "batchSize=200"}
        soql = "SELECT Id FROM Opportunity"
        page = client.get(f"{BASE}/queryAll", params={"q": soql}, headers=headers).json()
        assert not page["done"], "small should hold more than one batch of opportunities"
        ids = [r["Id"] for r in page["records"]]
        advance(paths, days=30)  # the generator writes while the connector pages
        while not page["done"]:
            page = client.get(page["nextRecordsUrl"]).json()
            ids.extend(r["Id"] for r in page["records"])
        assert ids == sorted(before)

        con = connect(paths.crm, readonly=True)
        changed = sorted(
            r[0]
            for r in con.execute(
                'select "Id" from "Opportunity" where "SystemModstamp" > ?', (high_water,)
            )
        )
        con.close()
        assert changed, "advance should touch some opportunities"
        literal = high_water.replace(".000+0000", "Z")
        delta = read_all(
            client, f"SELECT Id FROM Opportunity WHERE SystemModstamp > {literal}", "queryAll"
        )
        assert sorted(r["Id"] for r in delta) == changed
