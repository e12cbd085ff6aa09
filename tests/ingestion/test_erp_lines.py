"""Lines and links removed from ERP transactions that still exist leave the warehouse: NetSuite
renumbers an invoice's lines when its amounts change and drops a payment's old application when
it is re-applied, and lists neither in `deletedrecord`; the next incremental run removes them."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from ingestion.pipelines import SystemSummary, run_system
from ingestion.sources.erp import current_keys
from ingestion.sources.erp.helpers import SuiteQLClient
from sandbox.defaults import SANDBOX_DEFAULT_TOKENS
from sandbox.schema import SandboxPaths
from tests.ingestion.support import (
    TRANSACTION_TYPES,
    assert_raw_erp_equals_the_erp,
    env_for,
    erp_truth,
    patched_env,
    served,
    warehouse,
)

R = "/services/rest/record/v1"
_OPEN = "join accountingperiod p on p.id = t.postingperiod and p.closed = 'F'"


@dataclass
class Changed:
    """What the test changed between two ERP runs, and what the runs saw."""

    home: Path
    invoice: int = 0  # an invoice whose lines are rewritten (renumbered)
    payment: int = 0  # a payment re-applied from `paid` to `other`
    paid: int = 0
    other: int = 0
    old_lines: dict[int, set[int]] = field(default_factory=dict)  # transaction -> uniquekeys
    lines_before: list[tuple[Any, ...]] = field(default_factory=list)  # every landed line row
    runs: list[SystemSummary] = field(default_factory=list)


def _erp(home: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    con = sqlite3.connect(f"file:{SandboxPaths.under(home).erp}?mode=ro", uri=True)
    try:
        return [tuple(r) for r in con.execute(sql, params).fetchall()]
    finally:
        con.close()


def _reapplicable_payment(home: Path) -> tuple[int, int, str, int]:
    """(payment, the invoice it pays, the amount, another open invoice of the same customer
    that can take it): all USD, in open periods, the payment applied to that one invoice only."""
    rows = _erp(
        home,
        'select t.id, l.previousdoc, l.foreignamount, b.id from "transaction" t '
        f"{_OPEN} join previoustransactionlink l on l.nextdoc = t.id "
        'join "transaction" b on b.entity = t.entity and b.currency = t.currency '
        "and b.type = 'CustInvc' and b.status = 'A' and b.id <> l.previousdoc "
        "join accountingperiod bp on bp.id = b.postingperiod and bp.closed = 'F' "
        "where t.type = 'CustPymt' and t.currency = 1 "
        "and cast(b.foreignamountunpaid as real) >= cast(l.foreignamount as real) "
        "and (select count(*) from previoustransactionlink x where x.nextdoc = t.id) = 1 "
        "order by t.id limit 1",
    )
    assert rows, "no re-applicable payment in the small sandbox"
    return int(rows[0][0]), int(rows[0][1]), str(rows[0][2]), int(rows[0][3])


def _renumberable_invoice(home: Path, not_ids: set[int]) -> tuple[int, int, str]:
    """(invoice, an item of its lines, its total): an open USD invoice in an open period with
    nothing applied to it and at least two item lines."""
    rows = _erp(
        home,
        'select t.id, min(tl.item), t.foreigntotal from "transaction" t '
        f"{_OPEN} join transactionline tl on tl.\"transaction\" = t.id and tl.mainline = 'F' "
        "where t.type = 'CustInvc' and t.status = 'A' and t.currency = 1 "
        "and t.foreignamountunpaid = t.foreigntotal "
        "and not exists (select 1 from previoustransactionlink l where l.previousdoc = t.id) "
        "group by t.id having count(*) >= 2 order by t.id",
    )
    for rid, item, total in rows:
        if int(rid) not in not_ids:
            return int(rid), int(item), str(total)
    raise AssertionError("no invoice with several lines to renumber in the small sandbox")


def _raw(home: Path, sql: str) -> list[tuple[Any, ...]]:
    con = warehouse(home)
    try:
        return [tuple(r) for r in con.execute(sql).fetchall()]
    finally:
        con.close()


def _line_rows(home: Path) -> list[tuple[Any, ...]]:
    """Every landed transactionline row without dlt's columns, transaction first."""
    cols = [
        c
        for (c,) in _raw(
            home,
            "select column_name from information_schema.columns where table_schema = "
            "'raw_erp' and table_name = 'transactionline' order by column_name",
        )
        if not c.startswith("_dlt") and c != "transaction"
    ]
    sel = ", ".join(f'"{c}"' for c in ["transaction", *cols])
    return sorted(_raw(home, f"select {sel} from raw_erp.transactionline"), key=repr)


@pytest.fixture(scope="module")
def changed(
    small_sandbox_home: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Changed]:
    home = tmp_path_factory.mktemp("erp-lines")
    shutil.copytree(small_sandbox_home / "sandbox", home / "sandbox")
    state = Changed(home)
    state.payment, state.paid, amount, state.other = _reapplicable_payment(home)
    state.invoice, item, total = _renumberable_invoice(
        home, {state.payment, state.paid, state.other}
    )
    with served(home) as sandbox, patched_env(env_for(home, sandbox.urls)):
        state.runs.append(run_system("erp"))
        state.lines_before = _line_rows(home)
        for rid in (state.invoice, state.payment):
            state.old_lines[rid] = {
                k for (k,) in _raw(home, f"select uniquekey from raw_erp.transactionline "
                                         f"where transaction = {rid}")
            }  # fmt: skip
        headers = {"Authorization": f"Bearer {SANDBOX_DEFAULT_TOKENS['erp']}"}
        with httpx.Client(base_url=sandbox.urls["erp"], headers=headers, timeout=30) as erp:
            # New amounts on fewer lines: the ERP rewrites all the invoice's lines, new keys.
            lines = (
                f'{{"item": {{"id": "{item}"}}, "quantity": 1, "rate": {total}, '
                f'"amount": {total}, "description": "one line now"}}'
            )
            r = erp.patch(
                f"{R}/invoice/{state.invoice}", content=f'{{"item": {{"items": [{lines}]}}}}'
            )
            assert r.status_code == 204, r.text
            # The payment moves from `paid` to `other`: its old link goes, a new one comes.
            apply = f'{{"doc": {{"id": "{state.other}"}}, "apply": true, "amount": {amount}}}'
            r = erp.patch(
                f"{R}/customerpayment/{state.payment}",
                content=f'{{"apply": {{"items": [{apply}]}}}}',
            )
            assert r.status_code == 204, r.text
        state.runs.append(run_system("erp"))
        state.runs.append(run_system("erp"))
    yield state


def test_the_changes_renumbered_lines_and_moved_the_link(changed: Changed) -> None:
    """The premise: the ERP dropped the old keys (else the other tests prove nothing)."""
    truth = erp_truth(changed.home)
    assert len(changed.old_lines[changed.invoice]) >= 3  # main line + two or more item lines
    for rid, old in changed.old_lines.items():
        assert old and not old & {k for (k,) in truth["transactionline"]}, rid
    assert (changed.paid, changed.payment) not in truth["previoustransactionlink"]
    assert (changed.other, changed.payment) in truth["previoustransactionlink"]
    # the first run was a full load: nothing to compare, nothing deleted
    assert not [t for t in changed.runs[0].tables if t.rows_deleted]


def test_raw_erp_equals_the_erp_after_lines_change(changed: Changed) -> None:
    assert_raw_erp_equals_the_erp(changed.home)
    for rid in (changed.invoice, changed.payment):
        now = {
            (int(k),)
            for (k,) in _erp(
                changed.home,
                'select uniquekey from transactionline where "transaction" = ?',
                (rid,),
            )
        }
        landed = _raw(
            changed.home, f"select uniquekey from raw_erp.transactionline where transaction = {rid}"
        )
        assert set(landed) == now, rid


def test_untouched_lines_are_unchanged(changed: Changed) -> None:
    """Every line of every other transaction, the re-opened and newly paid invoices included,
    is the row it was before, column for column."""
    rewritten = {changed.invoice, changed.payment}
    before = [r for r in changed.lines_before if r[0] not in rewritten]
    after = [r for r in _line_rows(changed.home) if r[0] not in rewritten]
    assert len(before) > 10_000
    assert after == before


def test_removed_rows_are_counted_once(changed: Changed) -> None:
    second = {t.table: t.rows_deleted for t in changed.runs[1].tables if t.rows_deleted}
    assert second == {
        "transactionline": sum(len(k) for k in changed.old_lines.values()),
        "previoustransactionlink": 1,
    }
    # the third run reads nothing new, so it removes nothing
    assert not [t for t in changed.runs[2].tables if t.rows_deleted]


def test_current_keys_chunks_and_resumes_past_the_row_ceiling(
    small_sandbox_home: Path, tmp_path: Path
) -> None:
    """Keys read in chunks of transactions, each query resumed after its last key once it has
    read `max_rows` rows (one page, here), are exactly the ERP's: lines by one key column and
    by two (keyset paging on a composite key), links named from either side."""
    shutil.copytree(small_sandbox_home / "sandbox", tmp_path / "sandbox")
    types = ", ".join(f"'{t}'" for t in TRANSACTION_TYPES)
    parents = [
        int(r[0])
        for r in _erp(tmp_path, f'select id from "transaction" where type in ({types}) order by id')
    ]
    lines = _erp(tmp_path, 'select "transaction", uniquekey from transactionline')
    landed = set(parents)
    want_lines = {(int(t), int(k)) for t, k in lines if int(t) in landed}
    want_links = {
        (int(p), int(n)) for p, n in _erp(tmp_path, "select previousdoc, nextdoc from "
                                                    "previoustransactionlink")
    }  # fmt: skip
    # 900 transactions have ~1,800 lines: every chunk restarts after its first 1,000 rows
    assert len(want_lines) > 2 * len(parents) - 100 and len(parents) > 9000
    with served(tmp_path) as sandbox:
        client = SuiteQLClient(sandbox.urls["erp"], SANDBOX_DEFAULT_TOKENS["erp"])
        line = "transactionline"
        refs = ("transaction",)
        by_key = current_keys(client, line, ("uniquekey",), refs, parents, 1000, 900)
        by_pair = current_keys(client, line, ("transaction", "uniquekey"), refs, parents, 1000, 900)
        links = current_keys(
            client,
            "previoustransactionlink",
            ("previousdoc", "nextdoc"),
            ("previousdoc", "nextdoc"),
            parents,
        )
    assert by_key == {(k,) for _, k in want_lines}
    assert by_pair == want_lines
    assert links == want_links
