"""Billing pages converted from their raw bodies (Arrow's JSON reader, optionally in a worker
process) land exactly what the row-by-row reference path lands."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pytest

import ingestion.sources.billing as billing_source
import ingestion.sources.billing.convert as convert_module
from ingestion.edge import Batcher, list_page_table, list_pages_table
from ingestion.pipelines import IngestError, run_system
from ingestion.sources.billing.convert import (
    ConvertPool,
    ConvertWorkerError,
    ListBatch,
    PageConverter,
)
from ingestion.sources.billing.helpers import StripeClient
from ingestion.sources.billing.settings import DECLARED, LISTS, SPECS
from sandbox.defaults import SANDBOX_DEFAULT_TOKENS
from sandbox.http_common import FaultConfig
from tests.ingestion.support import env_for, patched_env, served, snapshot

LISTED = [t for t in LISTS if t != "subscriptions"]


def _rows(table: pa.Table | None, key: tuple[str, ...]) -> list[dict[str, Any]]:
    if table is None:
        return []
    return sorted(table.to_pylist(), key=lambda r: tuple(str(r.get(k)) for k in key))


def _reference(table: str, records: list[dict[str, Any]]) -> tuple[pa.Table | None, Any]:
    """The row-by-row path: the reference every faster path must agree with."""
    return Batcher("billing", SPECS[table])._slow(records)


def _fetch(client: StripeClient, table: str) -> tuple[ListBatch, list[dict[str, Any]]]:
    bodies: list[bytes] = []
    child_pages: dict[str, list[bytes]] = {}
    records: list[dict[str, Any]] = []
    for refs, body in client.list_pages_raw(table, dict(LISTS[table])):
        bodies.append(body)
        page = orjson.loads(body)["data"]
        assert [r["id"] for r in refs] == [r["id"] for r in page]
        records.extend(page)
        if table == "invoices":
            for ref, invoice in zip(refs, page, strict=True):
                more = client.more_line_bodies(ref)
                assert [orjson.loads(b)["data"] for b in more] == client.more_line_pages(invoice)
                if more:
                    child_pages[invoice["id"]] = more
    return ListBatch(table, bodies, child_pages=child_pages), records


@pytest.fixture(scope="module")
def client(small_sandbox_home: Path) -> Any:
    with served(small_sandbox_home) as sandbox:
        yield StripeClient(sandbox.urls["billing"], SANDBOX_DEFAULT_TOKENS["billing"])


@pytest.mark.parametrize("table", LISTED)
def test_arrow_path_lands_what_the_row_path_lands(
    client: StripeClient, table: str, caplog: pytest.LogCaptureFixture
) -> None:
    batch, records = _fetch(client, table)
    assert records, f"the small sandbox has {table}"
    with caplog.at_level(logging.DEBUG, logger="ingestion.edge"):
        results = PageConverter().convert(batch)
    # the fast path was taken, not the fallback
    assert not [r for r in caplog.records if "row-by-row" in r.getMessage()]
    by_table = {r.table: r for r in results}
    expected, quarantine = _reference(table, [dict(r) for r in records])
    assert quarantine is None
    got = by_table[table].data
    assert got is not None and expected is not None
    assert dict(zip(got.column_names, got.schema.types, strict=True)) == dict(
        zip(expected.column_names, expected.schema.types, strict=True)
    )
    assert _rows(got, SPECS[table].key) == _rows(expected, SPECS[table].key)
    if table == "invoices":
        lines = [
            {**line, "invoice": line.get("invoice") or inv["id"]}
            for inv in records
            for line in client.all_lines(inv)
        ]
        assert len(lines) > len(records)  # some invoices page their lines past the first ten
        assert batch.child_pages
        want, _ = _reference("invoice_lines", lines)
        have = by_table["invoice_lines"].data
        assert have is not None and want is not None
        assert set(have.column_names) == set(want.column_names)
        key = SPECS["invoice_lines"].key
        assert _rows(have.select(want.column_names), key) == _rows(want, key)


def _page(*records: dict[str, Any]) -> bytes:
    return orjson.dumps({"object": "list", "data": list(records), "has_more": False})


def test_a_batch_arrow_cannot_vouch_for_is_judged_row_by_row() -> None:
    # `amount_due` changes type between pages, one record lacks its id, one field is new.
    bodies = [
        _page({"id": "in_1", "created": 1, "amount_due": 100, "lines": {"data": []}}),
        _page(
            {"id": "in_2", "created": 2, "amount_due": "12.50", "lines": {"data": []}},
            {"created": 3, "amount_due": 5, "lines": {"data": []}},
            {"id": "in_4", "created": 4, "amount_due": 7, "brand_new": "x", "lines": {"data": []}},
        ),
    ]
    results = {r.table: r for r in PageConverter().convert(ListBatch("invoices", bodies))}
    invoices = results["invoices"]
    assert invoices.data is not None and invoices.quarantine is not None
    assert sorted(invoices.data.column("id").to_pylist()) == ["in_1", "in_4"]
    assert invoices.data.column("brand_new").to_pylist() == [None, "x"]
    reasons = dict(
        zip(
            invoices.quarantine.column("record_id").to_pylist(),
            invoices.quarantine.column("reason").to_pylist(),
            strict=True,
        )
    )
    assert reasons["in_2"].startswith("field amount_due: cannot parse '12.50'")
    assert reasons[None] == "missing primary key field id"


def test_pages_read_together_equal_pages_read_one_by_one(client: StripeClient) -> None:
    batch, records = _fetch(client, "invoices")
    line_bodies = [body for bodies in batch.child_pages.values() for body in bodies]
    for bodies in (batch.bodies, line_bodies):
        together = list_pages_table(bodies)
        assert together is not None
        table, counts = together
        one_by_one = [list_page_table(body) for body in bodies]
        assert all(t is not None for t in one_by_one)
        assert counts == [t.num_rows for t in one_by_one if t is not None]
        expected = pa.concat_tables(
            [t for t in one_by_one if t is not None], promote_options="permissive"
        )
        assert table.schema == expected.schema
        assert table.equals(expected)
    assert sum(list_pages_table(batch.bodies)[1]) == len(records)  # type: ignore[index]


def test_pages_arrow_cannot_read_together_are_refused_not_misread() -> None:
    first = _page({"id": "in_1", "n": 1}, {"id": "in_2", "n": None})
    # a page whose field changes type, a page without `data`, a body that is not JSON
    for other in (_page({"id": "in_3", "n": {"a": 1}}), b'{"object": "list"}', b"{oops"):
        assert list_pages_table([first, other]) is None
    table, counts = list_pages_table([first, _page(), _page({"id": "in_3", "n": 3})]) or (None, [])
    assert counts == [2, 0, 1]
    assert table is not None and table.to_pylist() == [
        {"id": "in_1", "n": 1},
        {"id": "in_2", "n": None},
        {"id": "in_3", "n": 3},
    ]
    # pretty-printed pages (newlines between tokens) read the same
    pretty = orjson.dumps(orjson.loads(first), option=orjson.OPT_INDENT_2)
    again = list_pages_table([pretty, pretty])
    assert again is not None and again[1] == [2, 2]
    # children on further pages keep their owner when they cannot be read together (and the
    # row path judges the field whose type changed)
    lines = [_page({"id": "il_1"}), _page({"id": "il_2", "invoice": ""}, {"id": "il_3", "x": 1})]
    batch = ListBatch("invoices", [_page({"id": "in_9", "lines": {"data": []}})])
    batch.child_pages = {"in_9": [*lines, _page({"id": "il_4", "x": "text"})]}
    results = {r.table: r for r in PageConverter().convert(batch)}
    landed, quarantined = results["invoice_lines"].data, results["invoice_lines"].quarantine
    assert landed is not None and quarantined is not None
    assert landed.select(["id", "invoice"]).to_pylist() == [
        {"id": f"il_{n}", "invoice": "in_9"} for n in (1, 2, 3)
    ]
    assert quarantined.column("record_id").to_pylist() == ["in_9/il_4"]  # key: invoice, id


def _set(table: pa.Table) -> list[dict[str, Any]]:
    """The rows without the declared vendor fields no record set (typed null columns)."""
    unset = [
        name
        for name in DECLARED["invoice_lines"]
        if name in table.column_names and table.column(name).null_count == table.num_rows
    ]
    return table.drop_columns(sorted(unset)).to_pylist()


def test_ids_already_landed_are_left_out() -> None:
    bodies = [
        _page(
            {"id": "in_1", "created": 5, "lines": {"data": [{"id": "il_1", "amount": 1}]}},
            {"id": "in_2", "created": 5, "lines": {"data": [{"id": "il_2", "amount": 2}]}},
        )
    ]
    batch = ListBatch("invoices", bodies, exclude=frozenset({"in_1"}))
    results = {r.table: r for r in PageConverter().convert(batch)}
    assert results["invoices"].data is not None
    assert results["invoices"].data.column("id").to_pylist() == ["in_2"]
    lines = results["invoice_lines"].data
    assert lines is not None
    # the parent is named on the line; declared fields are there even when absent
    assert _set(lines) == [{"id": "il_2", "amount": 2, "invoice": "in_2", "quantity": None}]


def test_worker_converts_in_order_and_reports_failures_clearly() -> None:
    pool = ConvertPool(str)
    try:
        first = ListBatch("charges", [_page({"id": "ch_1", "created": 1, "amount": 5})])
        second = ListBatch("charges", [_page({"id": "ch_2", "created": 2, "amount": 6})])
        done = [*pool.submit(first), *pool.submit(second), *pool.drain()]
        assert [r[0].data.column("id").to_pylist() for r in done] == [["ch_1"], ["ch_2"]]  # type: ignore[union-attr]
        with pytest.raises(ConvertWorkerError, match="KeyError: 'no_such_table'"):
            list(pool.submit(ListBatch("no_such_table", [_page({"id": "x"})])))
            list(pool.drain())
    finally:
        pool.close()
    assert not pool.started


def test_worker_does_not_outlive_a_killed_ingest(tmp_path: Path) -> None:
    script = tmp_path / "hold.py"
    script.write_text(
        textwrap.dedent(
            """
            import sys, time
            from ingestion.sources.billing.convert import ConvertPool, ListBatch
            pool = ConvertPool(str)
            body = b'{"object": "list", "data": [{"id": "ch_1", "created": 1}]}'
            list(pool.submit(ListBatch("charges", [body])))
            list(pool.drain())
            print(pool._proc.pid, flush=True)
            time.sleep(120)
            """
        )
    )
    proc = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, text=True, cwd=Path.cwd()
    )
    assert proc.stdout is not None
    worker = int(proc.stdout.readline())
    os.kill(worker, 0)  # alive
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(worker, os.WNOHANG)
        try:
            os.kill(worker, 0)
        except ProcessLookupError:
            return
        status = Path(f"/proc/{worker}/status")
        if status.exists() and "zombie" in status.read_text():
            return  # exited; its reaper (init) has not collected it yet
        time.sleep(0.2)
    pytest.fail("the conversion worker outlived the killed ingest")


def _worker_pids() -> list[int]:
    """The conversion workers this process started (their command line names the entry)."""
    me = str(os.getpid())
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            if stat.read_text().rsplit(")", 1)[1].split()[1] != me:
                continue
            if b"serve_worker" in (stat.parent / "cmdline").read_bytes():
                found.append(int(stat.parent.name))
    return found


def test_a_worker_dying_mid_listing_stops_the_fetching_thread(
    small_sandbox_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    shutil.copytree(small_sandbox_home / "sandbox", home / "sandbox")
    # many small batches, and slow pages: the listing is still being fetched when it dies
    monkeypatch.setattr(billing_source, "BATCH_ROWS", 100)
    slow = FaultConfig(rate=1.0, kinds=("latency",), latency_ms=30)
    killed: list[int] = []

    def kill_the_worker() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not killed:
            for pid in _worker_pids():
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            time.sleep(0.01)

    with served(home, faults={"billing": slow}) as sandbox:
        env = {**env_for(home, sandbox.urls), "SOURCES__BILLING__CONVERT_WORKER": "on"}
        with patched_env(env):
            watcher = threading.Thread(target=kill_the_worker)
            watcher.start()
            with pytest.raises(IngestError, match="CONVERT_WORKER=off converts in-process"):
                run_system("billing", resources=["invoices"])
            watcher.join()
    assert killed
    # the thread fetching the listing was stopped with the run, not left blocked or fetching
    assert not [t for t in threading.enumerate() if t.name.startswith("closeloop-fetch-")]


SLOTS = 1


def test_auto_mode_keeps_to_the_worker_slots_and_lands_what_off_lands(
    small_sandbox_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # small batches, so that several listings of the small sandbox want a worker at once
    monkeypatch.setattr(billing_source, "BATCH_ROWS", 200)
    monkeypatch.setattr(convert_module, "_slots", threading.BoundedSemaphore(SLOTS))
    landed = {}
    workers: list[int] = []
    for mode in ("auto", "off"):
        home = tmp_path / mode
        shutil.copytree(small_sandbox_home / "sandbox", home / "sandbox")
        stop = threading.Event()

        def watch(stop: threading.Event = stop) -> None:
            while not stop.is_set():
                workers.append(len(_worker_pids()))
                time.sleep(0.005)

        with served(home) as sandbox:
            env = {**env_for(home, sandbox.urls), "SOURCES__BILLING__CONVERT_WORKER": mode}
            watcher = threading.Thread(target=watch)
            watcher.start()
            try:
                with patched_env(env):
                    run_system("billing")
            finally:
                stop.set()
                watcher.join()
        landed[mode] = snapshot(home, "billing")
    assert max(workers) == SLOTS  # workers ran, never more at once than the slots
    assert landed["auto"] == landed["off"]


def test_worker_and_in_process_land_the_same_tables(
    small_sandbox_home: Path, tmp_path: Path
) -> None:
    landed = {}
    for mode in ("on", "off"):
        home = tmp_path / mode
        shutil.copytree(small_sandbox_home / "sandbox", home / "sandbox")
        with served(home) as sandbox:
            env = {**env_for(home, sandbox.urls), "SOURCES__BILLING__CONVERT_WORKER": mode}
            with patched_env(env):
                summary = run_system("billing")
        assert summary.rows_loaded > 0 and summary.rows_rejected == 0
        landed[mode] = snapshot(home, "billing")
    assert landed["on"] == landed["off"]
    assert landed["on"]["invoice_lines"]


def test_an_unknown_worker_mode_is_refused(small_sandbox_home: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    shutil.copytree(small_sandbox_home / "sandbox", home / "sandbox")
    with served(home) as sandbox:
        env = {**env_for(home, sandbox.urls), "SOURCES__BILLING__CONVERT_WORKER": "sometimes"}
        with patched_env(env), pytest.raises(Exception, match="CONVERT_WORKER is 'sometimes'"):
            run_system("billing")


def test_event_borne_invoices_reread_lines_only_while_they_can_change() -> None:
    from ingestion.sources.billing import _lines_may_have_changed

    def invoice(finalized_at: int | None) -> dict[str, Any]:
        return {"id": "in_1", "status_transitions": {"finalized_at": finalized_at}}

    horizon = 1_000
    # a draft (never finalized) can still change its lines
    assert _lines_may_have_changed(invoice(None), horizon)
    # finalized since the previous run (in its very second too): the landed lines may be a draft's
    assert _lines_may_have_changed(invoice(horizon), horizon)
    assert _lines_may_have_changed(invoice(horizon + 5), horizon)
    # finalized before the previous run: Stripe froze the lines, and they were landed then
    assert not _lines_may_have_changed(invoice(horizon - 1), horizon)
    # no previous run to rely on
    assert _lines_may_have_changed(invoice(horizon - 1), None)
    assert _lines_may_have_changed({"id": "in_2"}, horizon)


def test_the_paging_scan_reads_what_a_full_parse_reads() -> None:
    from ingestion.http import SourceError
    from ingestion.sources.billing.helpers import scan_page

    page = {
        "object": "list",
        "data": [
            {"id": "in_1", "created": 7, "x": [1, {"y": 2}], "lines": {"object": "list",
             "data": [{"id": "il_1"}, {"id": "il_2"}], "has_more": True,
             "url": "/v1/invoices/in_1/lines"}},
            {"id": "ch_1", "created": 8, "metadata": {"a": "b"}},
        ],
        "has_more": True,
    }  # fmt: skip
    refs, more = scan_page(orjson.dumps(page), "GET /v1/x")
    assert more is True
    assert refs == [
        {
            "id": "in_1",
            "created": 7,
            "lines": {"has_more": True, "url": "/v1/invoices/in_1/lines", "data": [{"id": "il_2"}]},
        },
        {"id": "ch_1", "created": 8},
    ]
    # a record that is not an object: the page is parsed in full and the record kept in place
    odd = orjson.dumps({"data": [{"id": "a", "created": 1}, "junk"], "has_more": False})
    refs, more = scan_page(odd, "GET /v1/x")
    assert (refs, more) == ([{"id": "a", "created": 1}, {}], False)
    with pytest.raises(SourceError, match=r"GET /v1/x failed: the response is not JSON"):
        scan_page(b"<html>oops</html>", "GET /v1/x")


def test_children_of_a_parent_without_id_do_not_misalign_the_batch() -> None:
    lines = [{"id": "il_1", "amount": 1, "discount_amounts": [{"amount": 1, "discount": "d"}]}]
    bodies = [
        _page(
            {"created": 1, "lines": {"data": [{"id": "il_0", "amount": 5}]}},
            {"id": "in_2", "created": 2, "lines": {"data": lines}},
        )
    ]
    results = {r.table: r for r in PageConverter().convert(ListBatch("invoices", bodies))}
    assert results["invoices"].quarantine is not None
    assert results["invoices"].quarantine.column("reason").to_pylist() == [
        "missing primary key field id"
    ]
    landed = results["invoice_lines"].data
    assert landed is not None
    assert _set(landed) == [
        {
            "id": "il_1",
            "amount": 1,
            "discount_amounts": '[{"amount":1,"discount":"d"}]',
            "invoice": "in_2",
            "quantity": None,
        }
    ]


def test_a_worker_that_dies_ends_the_run_with_a_clear_error() -> None:
    pool = ConvertPool(str)
    try:
        batch = ListBatch("charges", [_page({"id": "ch_1", "created": 1, "amount": 5})])
        assert [*pool.submit(batch), *pool.drain()]
        assert pool._proc is not None
        pool._proc.kill()
        pool._proc.wait()
        with pytest.raises(ConvertWorkerError, match="CONVERT_WORKER=off converts in-process"):
            list(pool.submit(batch))
            list(pool.drain())
    finally:
        pool.close()
