"""Run an iterator a few items ahead in a thread: fetching overlaps what the caller does.

A source's requests spend much of their time waiting on the socket, and dlt's work on what the
source yields (writing parquet) spends much of its time in Arrow with the GIL released: with
the fetching in a thread, each goes on while the other waits.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")

_END = object()


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


class Prefetch(Generic[T]):
    """Iterates `source` in a daemon thread, at most `depth` items ahead of the caller.

    Items come out in order; an exception raised by `source` is raised by `next` in the caller
    (with its traceback), after the items produced before it. `close` (or leaving a `with`
    block) stops the thread at its next item, so an abandoned run does not keep fetching.

    Args:
        source: the iterator to run ahead; it is only ever touched by the thread.
        depth: items held ready for the caller (bounds memory).
        name: the thread's name (shows in tracebacks and thread dumps).
    """

    def __init__(self, source: Iterable[T], depth: int = 1, name: str = "closeloop-prefetch"):
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max(1, depth))
        self._stop = threading.Event()
        self._done = False
        self._thread = threading.Thread(target=self._run, args=(source,), name=name, daemon=True)
        self._thread.start()

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self, source: Iterable[T]) -> None:
        try:
            for item in source:
                if not self._put(item):
                    return
        except BaseException as exc:  # handed to the caller, who raises it
            self._put(_Failed(exc))
            return
        finally:
            # a stopped generator runs its cleanup (its `finally`, its open responses) now
            close = getattr(source, "close", None)
            if callable(close):
                close()
        self._put(_END)

    def __iter__(self) -> Iterator[T]:
        return self

    def __next__(self) -> T:
        if self._done:
            raise StopIteration
        item = self._queue.get()
        if item is _END:
            self._done = True
            self._thread.join()
            raise StopIteration
        if isinstance(item, _Failed):
            self._done = True
            self._thread.join()
            raise item.error
        return item  # type: ignore[return-value]

    def close(self, wait: float = 10.0) -> None:
        """Stop the thread at its next item; wait up to `wait` seconds for it to finish the
        item it is on (a request being retried may take longer: the thread then ends by
        itself, a daemon, without handing anything over)."""
        self._done = True
        self._stop.set()
        deadline = time.monotonic() + wait
        while self._thread.is_alive() and time.monotonic() < deadline:
            with contextlib.suppress(queue.Empty):
                self._queue.get(timeout=0.1)

    def __enter__(self) -> Prefetch[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["Prefetch"]
