"""The demo path: serve the sandbox when no source is configured (`closeloop run`, `demo`, `ui`).

Production code never starts the sandbox or knows its tokens: orchestration, ingestion and
reverse ETL read the sources that the settings name. Only these CLI commands fall back to a
sandbox served on free loopback ports, generated first under `CLOSELOOP_HOME` if missing.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from closeloop.settings import BASE_URL_ENV_PATTERN, Settings, source_env_values
from sandbox.defaults import SANDBOX_DEFAULT_TOKENS

log = logging.getLogger(__name__)


def sandbox_configured(settings: Settings) -> bool:
    """True when every source has a base URL (external systems: no sandbox is started)."""
    return all(src.configured for src in settings.sources().values())


def sandbox_tokens(settings: Settings) -> dict[str, str]:
    """The token each sandbox API accepts: the configured one, else the sandbox's default."""
    return {
        name: str(src.token) or SANDBOX_DEFAULT_TOKENS[name]
        for name, src in settings.sources().items()
    }


@contextlib.contextmanager
def sources_for(
    settings: Settings, scale: str = "small", seed: int = 42, profile: str | None = None
) -> Iterator[dict[str, str]]:
    """Serve the sandbox unless the sources are configured; yields the environment to run with.

    The sandbox under `CLOSELOOP_HOME` is generated at `scale` when it does not exist yet, then
    served on free loopback ports for the duration of the block.

    Args:
        settings: closeloop settings.
        scale: sandbox scale to generate when none exists.
        seed: sandbox seed to generate with.
        profile: sandbox profile (`sandbox/profiles/<name>.toml`, or a path) to generate with;
            default the sandbox's own default (`classic`).

    Raises:
        ValueError: when some sources are configured and others are not.
    """
    env = settings.home_env()
    configured = [name for name, src in settings.sources().items() if src.configured]
    if configured and len(configured) < len(settings.sources()):
        # half a sandbox and half a real vendor would reconcile records that cannot match
        raise ValueError(
            f"only {', '.join(configured)} has a {BASE_URL_ENV_PATTERN}: set all three, or none "
            "to use the sandbox"
        )
    if sandbox_configured(settings):
        yield env
        return
    from sandbox.generator import generate
    from sandbox.schema import SandboxPaths
    from sandbox.server import ServeOptions, running

    paths = SandboxPaths.under(settings.home)
    if not paths.exists():
        log.info("generating a %s sandbox under %s", scale, paths.root)
        if profile is None:
            generate(paths, seed=seed, scale=scale)
        else:
            generate(paths, seed=seed, scale=scale, profile=profile)
    tokens = sandbox_tokens(settings)
    options = ServeOptions(ports={"crm": 0, "billing": 0, "erp": 0}, tokens=tokens)
    with running(paths, options) as sandbox:
        env.update(source_env_values(sandbox.urls, tokens))
        yield env
