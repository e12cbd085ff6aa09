"""`Prefetch`: a source run ahead in a thread keeps its order, its errors and its bounds."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from ingestion.prefetch import Prefetch


def test_items_come_in_order_and_the_thread_ends() -> None:
    with Prefetch(iter(range(1000)), depth=3) as items:
        assert list(items) == list(range(1000))
        assert next(items, None) is None
    assert not [t for t in threading.enumerate() if t.name == "closeloop-prefetch"]


def test_an_error_comes_after_the_items_before_it_with_its_traceback() -> None:
    def source() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("page 3 failed")

    got: list[int] = []
    with Prefetch(source()) as items, pytest.raises(ValueError, match="page 3 failed") as info:
        for item in items:
            got.append(item)
    assert got == [1, 2]
    assert any(entry.name == "source" for entry in info.traceback)


def test_the_thread_runs_at_most_depth_items_ahead() -> None:
    produced: list[int] = []

    def source() -> Iterator[int]:
        for n in range(100):
            produced.append(n)
            yield n

    with Prefetch(source(), depth=2) as items:
        assert next(items) == 0
        time.sleep(0.3)
        # one taken, two waiting in the queue, one made and waiting for room
        assert len(produced) <= 4


def test_close_stops_an_abandoned_source() -> None:
    stopped = threading.Event()

    def source() -> Iterator[int]:
        try:
            n = 0
            while True:
                yield n
                n += 1
        finally:
            stopped.set()

    items = Prefetch(source(), depth=1, name="closeloop-prefetch-abandoned")
    assert next(items) == 0
    items.close()
    assert stopped.wait(5)
    assert not [t for t in threading.enumerate() if t.name == "closeloop-prefetch-abandoned"]
    assert next(items, None) is None
