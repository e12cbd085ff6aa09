"""A role without a permission: the ERP sandbox answers SuiteQL on a table it may not read as
NetSuite does, exactly like an unknown table (`Record 'deletedrecord' was not found`)."""

from __future__ import annotations

import json
from typing import Any

import httpx

from sandbox import schema
from sandbox.erp import create_app
from sandbox.erp.app import profile_denied_tables
from sandbox.testing import serve
from tests.sandbox.test_erp_fixtures import build

QUERY = "/services/rest/query/v1/suiteql"


def _post(client: httpx.Client, text: str) -> httpx.Response:
    return client.post(QUERY, json={"q": text}, headers={"Prefer": "transient"})


def _not_found(r: httpx.Response, table: str) -> dict[str, Any]:
    assert r.status_code == 400, r.text
    assert r.headers["content-type"].startswith("application/vnd.oracle.resource+json")
    body = r.json()
    assert body["status"] == 400 and body["title"] == "Bad Request"
    assert body["type"] == "https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.1"
    [detail] = body["o:errorDetails"]
    assert detail["o:errorCode"] == "INVALID_PARAMETER"
    assert detail["detail"] == (
        "Invalid search query. Detailed unprocessed description follows. "
        f"Search error occurred: Record '{table}' was not found."
    )
    return body


def test_a_denied_table_answers_as_an_unknown_one(tmp_path: Any) -> None:
    paths = build(tmp_path, n_invoices=3, n_customers=2)
    with (
        serve(create_app(paths, denied_tables=["deletedrecord"])) as base,
        httpx.Client(base_url=base, timeout=30) as client,
    ):
        denied = _not_found(_post(client, "SELECT * FROM deletedrecord"), "deletedrecord")
        unknown = _not_found(_post(client, "SELECT * FROM nosuchtable"), "nosuchtable")
        assert denied["o:errorDetails"][0]["detail"].replace("deletedrecord", "x") == (
            unknown["o:errorDetails"][0]["detail"].replace("nosuchtable", "x")
        )
        # in a join too, and under any alias
        _not_found(
            _post(
                client,
                "SELECT t.id FROM transaction t JOIN deletedrecord d ON d.recordid = t.id",
            ),
            "deletedrecord",
        )
        # every other table still answers
        r = _post(client, "SELECT id FROM customer ORDER BY id")
        assert r.status_code == 200 and len(r.json()["items"]) == 2


def test_the_profile_file_denies_tables(tmp_path: Any) -> None:
    paths = build(tmp_path, n_invoices=3, n_customers=2)
    assert profile_denied_tables(paths) == frozenset()  # no profile.json: nothing denied
    (paths.root / "profile.json").write_text(
        json.dumps({"name": "meridian", "erp": {"denied_tables": ["deletedrecord"]}})
    )
    assert profile_denied_tables(paths) == {"deletedrecord"}
    with serve(create_app(paths)) as base, httpx.Client(base_url=base, timeout=30) as client:
        _not_found(_post(client, "SELECT recordid FROM deletedrecord"), "deletedrecord")
        assert _post(client, "SELECT id FROM transaction").status_code == 200
    (paths.root / "profile.json").write_text(json.dumps({"name": "classic", "erp": {}}))
    with serve(create_app(paths)) as base, httpx.Client(base_url=base, timeout=30) as client:
        r = _post(client, "SELECT recordid FROM deletedrecord")
        assert r.status_code == 200 and r.json()["items"] == []


def test_deleted_records_permission_false_denies_deletedrecord(tmp_path: Any) -> None:
    paths: schema.SandboxPaths = build(tmp_path, n_invoices=1, n_customers=1)
    (paths.root / "profile.json").write_text(
        json.dumps({"erp": {"deleted_records_permission": False}})
    )
    assert profile_denied_tables(paths) == {"deletedrecord"}
