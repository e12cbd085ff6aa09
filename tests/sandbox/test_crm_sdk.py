"""simple-salesforce (the official-style client) against the CRM sandbox over real HTTPS."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import simple_salesforce

from sandbox import testing
from sandbox.crm import create_app
from tests.sandbox.test_crm_api import CrmData, build_crm

TOKEN = "00Dsandbox!crm-test-token"
#: Sessions opened by the tests: closed before the server stops, which otherwise waits for
#: their keep-alive connections.
SESSIONS: list[requests.Session] = []


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, CrmData]]:
    data = build_crm(tmp_path_factory.mktemp("crm"), n_accounts=650, deleted_every=50)
    app: Any = create_app(data.paths)
    try:
        from sandbox.http_common import wrap

        # The app ignores auth headers; the lead's wrapper checks them like Salesforce does.
        app = wrap(app, system="crm", token=TOKEN)
    except ImportError:
        pass
    with testing.serve(app, tls=True) as base_url:
        try:
            yield base_url, data
        finally:
            for session in SESSIONS:
                session.close()


def client(base_url: Any, batch_size: int = 200) -> Any:
    session = requests.Session()
    SESSIONS.append(session)
    # REQUESTS_CA_BUNDLE in the environment would override session.verify (a requests quirk).
    session.trust_env = False
    session.verify = str(base_url.ca_path)
    session.headers["Sforce-Query-Options"] = f"batchSize={batch_size}"
    return simple_salesforce.Salesforce(
        instance_url=str(base_url), session_id=TOKEN, session=session, version="61.0"
    )


def test_query_all_reads_every_page(served: tuple[Any, CrmData]) -> None:
    base_url, data = served
    sf = client(base_url)
    result = sf.query_all("SELECT Id, Name FROM Account")
    live = data.live(data.accounts)
    assert result["totalSize"] == len(live) == 637
    assert result["done"] is True
    assert [r["Id"] for r in result["records"]] == [a["Id"] for a in live]
    assert result["records"][0]["attributes"]["type"] == "Account"

    first = sf.query("SELECT Id FROM Account")
    assert len(first["records"]) == 200 and first["done"] is False
    assert first["nextRecordsUrl"].startswith("/services/data/v61.0/query/")


def test_query_all_iter_and_include_deleted(served: tuple[Any, CrmData]) -> None:
    base_url, data = served
    sf = client(base_url, batch_size=300)
    ids = [r["Id"] for r in sf.query_all_iter("SELECT Id FROM Account ORDER BY Name DESC")]
    assert ids == [a["Id"] for a in reversed(data.live(data.accounts))]
    deleted = sf.query_all(
        "SELECT Id, IsDeleted FROM Account WHERE IsDeleted = true", include_deleted=True
    )
    assert deleted["totalSize"] == 13
    assert all(r["IsDeleted"] is True for r in deleted["records"])


def test_parent_fields_and_typed_values(served: tuple[Any, CrmData]) -> None:
    base_url, data = served
    sf = client(base_url)
    rows = sf.query_all("SELECT Name, Amount, Account.Name FROM Opportunity ORDER BY Name")
    by_name = {r["Name"]: r for r in rows["records"]}
    assert by_name["Big deal"]["Account"]["Name"] == data.accounts[0]["Name"]
    assert by_name["Orphan"]["Account"] is None
    assert by_name["Yen deal"]["Amount"] == 335000


def test_sobject_get_and_describe(served: tuple[Any, CrmData]) -> None:
    base_url, data = served
    sf = client(base_url)
    acc = data.accounts[6]
    got = sf.Account.get(acc["Id"])
    assert got["Id"] == acc["Id"] and got["Name"] == acc["Name"]
    assert sf.Account.get(acc["Id"][:15])["Id"] == acc["Id"]
    fields = {f["name"]: f for f in sf.Contact.describe()["fields"]}
    assert fields["AccountId"]["referenceTo"] == ["Account"]
    assert any(o["name"] == "Opportunity" for o in sf.describe()["sobjects"])


def test_sdk_errors_carry_salesforce_codes(served: tuple[Any, CrmData]) -> None:
    base_url, _ = served
    sf = client(base_url)
    with pytest.raises(simple_salesforce.exceptions.SalesforceMalformedRequest) as bad:
        sf.query("SELECT * FROM Account")
    assert bad.value.content[0]["errorCode"] == "MALFORMED_QUERY"
    with pytest.raises(simple_salesforce.exceptions.SalesforceResourceNotFound) as missing:
        sf.Account.get("001000000000000AAA")
    assert missing.value.content[0]["errorCode"] == "NOT_FOUND"


def test_wrong_token_is_rejected(served: tuple[Any, CrmData], tmp_path: Path) -> None:
    base_url, _ = served
    session = requests.Session()
    SESSIONS.append(session)
    # REQUESTS_CA_BUNDLE in the environment would override session.verify (a requests quirk).
    session.trust_env = False
    session.verify = str(base_url.ca_path)
    sf = simple_salesforce.Salesforce(
        instance_url=str(base_url), session_id="wrong", session=session, version="61.0"
    )
    with pytest.raises(simple_salesforce.exceptions.SalesforceExpiredSession):
        sf.query("SELECT Id FROM Account")
