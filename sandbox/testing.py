"""Serve an ASGI app on a free loopback port in a background thread (tests, demo, benchmarks)."""

from __future__ import annotations

import contextlib
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import uvicorn

from sandbox.tls import ensure_tls


class BaseURL(str):
    """A base URL such as `http://127.0.0.1:54321`; `.ca_path` is the CA file under TLS."""

    ca_path: Path | None = None


def _bind_loopback(port: int = 0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.set_inheritable(True)
    return sock


class ThreadedServer:
    """One uvicorn server running in a daemon thread on an already bound socket."""

    def __init__(
        self,
        app: Any,
        *,
        port: int = 0,
        tls_dir: Path | None = None,
        log_level: str = "warning",
    ) -> None:
        self.sock = _bind_loopback(port)
        self.port: int = self.sock.getsockname()[1]
        kwargs: dict[str, Any] = {}
        self.ca_path: Path | None = None
        if tls_dir is not None:
            files = ensure_tls(tls_dir)
            kwargs.update(ssl_certfile=str(files.cert), ssl_keyfile=str(files.key))
            self.ca_path = files.ca_cert
        config = uvicorn.Config(
            app,
            log_level=log_level,
            access_log=False,
            lifespan="off",
            timeout_keep_alive=30,
            # keep-alive clients would otherwise hold a stop for uvicorn's full graceful wait
            timeout_graceful_shutdown=1,
            **kwargs,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    @property
    def base_url(self) -> BaseURL:
        scheme = "https" if self.ca_path else "http"
        url = BaseURL(f"{scheme}://127.0.0.1:{self.port}")
        url.ca_path = self.ca_path
        return url

    def start(self, timeout: float = 15.0) -> ThreadedServer:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"sandbox server on port {self.port} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


@contextlib.contextmanager
def serve(app: Any, *, tls: bool = False, tls_dir: Path | None = None) -> Iterator[BaseURL]:
    """Serve `app` on 127.0.0.1 (a free port) for the duration of the `with` block.

    Args:
        app: any ASGI application.
        tls: serve HTTPS with a generated certificate; the URL's `.ca_path` is the CA to trust.
        tls_dir: where to keep the certificate files (a temporary folder when omitted).

    Yields:
        The base URL, e.g. `http://127.0.0.1:54321` (a `str`).
    """
    with contextlib.ExitStack() as stack:
        if tls and tls_dir is None:
            tls_dir = Path(stack.enter_context(tempfile.TemporaryDirectory())) / "tls"
        server = ThreadedServer(app, tls_dir=tls_dir if tls else None).start()
        try:
            yield server.base_url
        finally:
            server.stop()
