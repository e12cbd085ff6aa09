"""Run the three vendor-shaped APIs in one process on loopback (`closeloop sandbox serve`)."""

from __future__ import annotations

import importlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sandbox.http_common import FaultConfig, System, wrap
from sandbox.schema import SandboxPaths
from sandbox.testing import BaseURL, ThreadedServer

log = logging.getLogger(__name__)

SYSTEMS: tuple[System, ...] = ("crm", "billing", "erp")


def create_vendor_app(system: System, paths: SandboxPaths) -> Any:
    """The bare vendor app of one system (no auth, no faults)."""
    module = importlib.import_module(f"sandbox.{system}")
    factory = getattr(module, "create_app", None)
    if factory is None:
        factory = importlib.import_module(f"sandbox.{system}.app").create_app
    return factory(paths)


@dataclass
class ServeOptions:
    """How to serve the sandbox.

    Attributes:
        ports: port per system (0 picks a free one).
        tokens: the token each API accepts.
        faults: fault settings per system.
        tls: serve HTTPS with a certificate generated under `<sandbox>/tls`.
    """

    ports: dict[str, int]
    tokens: dict[str, str] = field(repr=False)
    faults: dict[str, FaultConfig] = field(default_factory=dict)
    tls: bool = False


@dataclass
class RunningSandbox:
    """The three servers of a running sandbox."""

    servers: dict[str, ThreadedServer]
    apps: dict[str, Any]

    @property
    def urls(self) -> dict[str, BaseURL]:
        return {name: server.base_url for name, server in self.servers.items()}

    @property
    def ca_path(self) -> Path | None:
        return next(iter(self.servers.values())).ca_path

    def stop(self) -> None:
        for server in self.servers.values():
            server.stop()


def start(paths: SandboxPaths, options: ServeOptions) -> RunningSandbox:
    """Start the three APIs in background threads and return once all of them listen.

    Raises:
        FileNotFoundError: when no sandbox has been generated under `paths`.
        OSError: when a port is taken (the message names it).
    """
    if not paths.exists():
        raise FileNotFoundError(
            f"no sandbox at {paths.root}: run `closeloop sandbox generate` first"
        )
    tls_dir = paths.root / "tls" if options.tls else None
    servers: dict[str, ThreadedServer] = {}
    apps: dict[str, Any] = {}
    try:
        for system in SYSTEMS:
            app = wrap(
                create_vendor_app(system, paths),
                system=system,
                token=options.tokens[system],
                faults=options.faults.get(system),
            )
            apps[system] = app
            try:
                server = ThreadedServer(app, port=options.ports.get(system, 0), tls_dir=tls_dir)
            except OSError as exc:
                raise OSError(
                    f"cannot listen for the {system} API on 127.0.0.1:{options.ports.get(system)}:"
                    f" {exc.strerror or exc}"
                ) from exc
            servers[system] = server.start()
    except BaseException:
        for server in servers.values():
            server.stop()
        raise
    return RunningSandbox(servers, apps)


@contextmanager
def running(paths: SandboxPaths, options: ServeOptions) -> Iterator[RunningSandbox]:
    """`start` as a context manager that always stops the servers."""
    sandbox = start(paths, options)
    try:
        yield sandbox
    finally:
        sandbox.stop()
