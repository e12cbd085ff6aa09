"""A Salesforce user without Read access to an object: an optional object gives one warning and
lands empty, the run goes on; a required one fails the run saying which access to grant."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from ingestion.http import SourceError
from ingestion.pipelines import IngestError, run_system
from ingestion.sources.crm import unreadable
from sandbox.defaults import SANDBOX_DEFAULT_TOKENS
from sandbox.http_common import wrap
from sandbox.schema import SandboxPaths
from sandbox.server import create_vendor_app
from sandbox.testing import serve
from tests.ingestion.support import patched_env, warehouse


class NoAccess:
    """Salesforce's answers for objects the user may not read, in front of the CRM sandbox:
    the describe is a 404 `NOT_FOUND`, a query naming the object a 400 `INVALID_TYPE`."""

    def __init__(self, app: Any, denied: set[str]) -> None:
        self.app = app
        self.denied = denied

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            query = scope.get("query_string", b"").decode()
            for name in self.denied:
                if f"/sobjects/{name}/" in path:
                    error = ("NOT_FOUND", "The requested resource does not exist", 404)
                elif "/query" in path and f"+FROM+{name}" in query.replace("%20", "+"):
                    error = ("INVALID_TYPE", f"sObject type '{name}' is not supported.", 400)
                else:
                    continue
                body = orjson.dumps([{"errorCode": error[0], "message": error[1]}])
                await send(
                    {
                        "type": "http.response.start",
                        "status": error[2],
                        "headers": [(b"content-type", b"application/json")],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


@contextlib.contextmanager
def crm_without(home: Path, denied: set[str]) -> Iterator[None]:
    token = SANDBOX_DEFAULT_TOKENS["crm"]
    app = wrap(create_vendor_app("crm", SandboxPaths.under(home)), system="crm", token=token)
    env = {
        "CLOSELOOP_HOME": str(home),
        "CLOSELOOP_WAREHOUSE": "duckdb",
        "SOURCES__CRM__ACCESS_TOKEN": token,
    }
    with serve(NoAccess(app, denied)) as base, patched_env(env | {"SOURCES__CRM__BASE_URL": base}):
        yield


@pytest.fixture
def home(small_sandbox_home: Path, tmp_path: Path) -> Path:
    shutil.copytree(small_sandbox_home / "sandbox", tmp_path / "sandbox")
    return tmp_path


def test_an_optional_object_without_access_lands_empty_with_one_warning(home: Path) -> None:
    with crm_without(home, {"Contact"}):
        summary = run_system("crm")
    [warning] = summary.warnings
    assert warning.system == "crm" and warning.table == "contact"
    assert "no Read access to Contact" in str(warning) and "NOT_FOUND" in str(warning)
    con = warehouse(home)
    try:
        assert con.execute("select count(*) from raw_crm.contact").fetchone() == (0,)
        columns = {
            r[0]: r[1]
            for r in con.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_schema = 'raw_crm' and table_name = 'contact'"
            ).fetchall()
        }
        assert columns["email"] == "VARCHAR" and columns["created_date"].startswith("TIMESTAMP")
        assert con.execute("select count(*) from raw_crm.account").fetchone()[0] > 0
    finally:
        con.close()


def test_a_required_object_without_access_fails_the_run_clearly(home: Path) -> None:
    with crm_without(home, {"Account"}), pytest.raises(IngestError) as failed:
        run_system("crm")
    text = str(failed.value)
    assert "no Read access to Account" in text and "closeloop needs Account" in text


def test_invalid_type_is_a_refusal() -> None:
    query = "GET /services/data/v61.0/queryAll"
    assert unreadable(
        SourceError("crm", query, "HTTP 400 INVALID_TYPE: sObject type 'X' is not supported.", 400)
    )
    assert not unreadable(SourceError("crm", query, "HTTP 400 MALFORMED_QUERY: bad", 400))
