"""A NetSuite role without *Deleted Records*: the ERP load goes on with one warning naming the
permission, and deletions reach the warehouse through the key sweep, on its schedule."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from ingestion.pipelines import ERP_SWEEP_NOW, SystemSummary, run_ingest, run_system
from sandbox.defaults import SANDBOX_DEFAULT_TOKENS
from tests.ingestion.support import (
    assert_raw_erp_equals_the_erp,
    env_for,
    patched_env,
    served,
)
from tests.ingestion.test_erp_deletes import R, _created, _duplicate_invoice, _open_invoice, _raw


@dataclass
class Swept:
    """Four ERP runs of a role without Deleted Records, deletions between the first two."""

    home: Path
    invoice: int = 0
    payment: int = 0
    customer: int = 0
    invoice_lines: set[tuple[Any, ...]] = field(default_factory=set)
    payment_links: set[tuple[Any, ...]] = field(default_factory=set)
    before: set[tuple[Any, ...]] = field(default_factory=set)
    not_due: set[tuple[Any, ...]] = field(default_factory=set)
    runs: list[SystemSummary] = field(default_factory=list)


@pytest.fixture(scope="module")
def swept(small_sandbox_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Swept]:
    home = tmp_path_factory.mktemp("erp-key-sweep")
    shutil.copytree(small_sandbox_home / "sandbox", home / "sandbox")
    # the generator's profile of a company whose integration role lacks Deleted Records
    (home / "sandbox" / "profile.json").write_text(
        json.dumps({"name": "test", "erp": {"denied_tables": ["deletedrecord"]}})
    )
    state = Swept(home)
    with served(home) as sandbox, patched_env(env_for(home, sandbox.urls)):
        headers = {"Authorization": f"Bearer {SANDBOX_DEFAULT_TOKENS['erp']}"}
        with httpx.Client(base_url=sandbox.urls["erp"], headers=headers, timeout=30) as erp:
            assert erp.post(
                "/services/rest/query/v1/suiteql",
                json={"q": "SELECT recordid FROM deletedrecord"},
                headers={"Prefer": "transient"},
            ).status_code == 400  # fmt: skip
            state.invoice = _duplicate_invoice(home)
            paid, customer = _open_invoice(home, state.invoice)
            body = (
                f'{{"customer": {{"id": "{customer}"}}, "payment": 1.00, "apply": {{"items": '
                f'[{{"doc": {{"id": "{paid}"}}, "amount": 1.00}}]}}}}'
            )
            state.payment = _created(erp.post(f"{R}/customerpayment", content=body.encode()))
            state.customer = _created(
                erp.post(f"{R}/customer", json={"companyName": "Gone", "subsidiary": {"id": "1"}})
            )
            # 1: the first load; it counts as a sweep (nothing landed can be stale)
            state.runs.extend(run_ingest(["erp"]))
            state.before = _raw(home, "select id from raw_erp.transaction")
            lines = "select uniquekey from raw_erp.transactionline where transaction = "
            state.invoice_lines = _raw(home, f"{lines}{state.invoice}")
            state.payment_links = _raw(
                home,
                "select previousdoc, nextdoc from raw_erp.previoustransactionlink "
                f"where nextdoc = {state.payment}",
            )
            for path in (
                f"{R}/invoice/{state.invoice}",
                f"{R}/customerpayment/{state.payment}",
                f"{R}/customer/{state.customer}",
            ):
                assert erp.delete(path).status_code == 204, path
        # 2: a schedule of 48 h: the sweep is not due, the deletions stay unseen
        with patched_env({"SOURCES__ERP__KEY_SWEEP_EVERY_HOURS": "48"}):
            state.runs.append(run_system("erp"))
        state.not_due = _raw(home, "select id from raw_erp.transaction")
        # 3: a re-read that must see deletions (a write-back's verify): the sweep is due now
        state.runs.extend(run_ingest(["erp"], source_options={"erp": ERP_SWEEP_NOW}))
        # 4: switched off (though due every run): nothing is swept, and the warning says
        # deletions are not seen
        with patched_env(
            {"SOURCES__ERP__KEY_SWEEP": "never", "SOURCES__ERP__KEY_SWEEP_EVERY_HOURS": "0"}
        ):
            state.runs.append(run_system("erp"))
    yield state


def test_each_run_succeeds_with_one_warning_naming_the_permission(swept: Swept) -> None:
    for run in swept.runs:
        assert len(run.warnings) == 1, [str(w) for w in run.warnings]
        [warning] = run.warnings
        assert warning.system == "erp" and warning.table == "deletedrecord"
        text = str(warning)
        assert "Deleted Records" in text and "Record 'deletedrecord' was not found" in text
    assert "key sweep" in str(swept.runs[0].warnings[0])
    assert "SOURCES__ERP__KEY_SWEEP=auto" in str(swept.runs[0].warnings[0])
    assert "at most every 24 h" in str(swept.runs[0].warnings[0])  # the default
    assert "at most every 48 h" in str(swept.runs[1].warnings[0])
    assert "next runs after" in str(swept.runs[1].warnings[0])
    assert "found 3 deleted record(s)" in str(swept.runs[2].warnings[0])
    assert "NOT seen" in str(swept.runs[3].warnings[0])
    # nothing of deletedrecord lands: the role may not read it
    assert not [
        t for r in swept.runs for t in r.tables if t.rows_loaded and t.table == "deletedrecord"
    ]


def test_a_sweep_that_is_not_due_deletes_nothing(swept: Swept) -> None:
    assert swept.not_due == swept.before
    # (the paid invoice changed, so its application's removal is seen as on any run)
    assert not [
        t for t in swept.runs[1].tables if t.rows_deleted and t.table != "previoustransactionlink"
    ]


def test_the_sweep_deletes_records_gone_from_netsuite_with_lines_and_links(swept: Swept) -> None:
    home = swept.home
    after = _raw(home, "select id from raw_erp.transaction")
    assert swept.before - after == {(swept.invoice,), (swept.payment,)}
    assert _raw(home, f"select id from raw_erp.customer where id = {swept.customer}") == set()
    keys = ", ".join(str(k[0]) for k in swept.invoice_lines)
    assert swept.invoice_lines
    assert _raw(home, f"select 1 from raw_erp.transactionline where uniquekey in ({keys})") == set()
    links = _raw(home, "select previousdoc, nextdoc from raw_erp.previoustransactionlink")
    assert swept.payment_links and not links & swept.payment_links
    deleted = {t.table: t.rows_deleted for t in swept.runs[2].tables if t.rows_deleted}
    assert deleted["transaction"] == 2 and deleted["customer"] == 1
    assert deleted["transactionline"] >= len(swept.invoice_lines)


def test_raw_erp_equals_the_erp_after_the_sweep(swept: Swept) -> None:
    assert_raw_erp_equals_the_erp(swept.home)


def test_an_empty_listing_deletes_nothing(small_sandbox_home: Path, tmp_path: Path) -> None:
    home = tmp_path
    shutil.copytree(small_sandbox_home / "sandbox", home / "sandbox")
    (home / "sandbox" / "profile.json").write_text(
        json.dumps({"erp": {"denied_tables": ["deletedrecord"]}})
    )
    with (
        served(home) as sandbox,
        patched_env(env_for(home, sandbox.urls) | {"SOURCES__ERP__KEY_SWEEP_EVERY_HOURS": "0"}),
    ):
        run_system("erp")
        before = _raw(home, "select id from raw_erp.customer")
        # every customer gone from what NetSuite lists (straight in the sandbox's store)
        con = sqlite3.connect(home / "sandbox" / "erp.sqlite")
        with con:
            con.execute("delete from customer")
        con.close()
        summary = run_system("erp")
    assert before and _raw(home, "select id from raw_erp.customer") == before
    texts = [str(w) for w in summary.warnings]
    assert len(texts) == 2, texts
    assert "found no customer at all" in texts[0] and "deletes none" in texts[0]
    assert "Deleted Records" in texts[1]
