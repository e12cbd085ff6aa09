"""Poll the billing system's `/v1/events` (Stripe's own endpoint) for the newest event."""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from closeloop.settings import BASE_URL_KEY, Settings, source_env
from ingestion.sources.billing.settings import STRIPE_VERSION


@dataclass(frozen=True)
class NewestEvent:
    """The newest billing event: its id and creation time (epoch seconds)."""

    id: str
    created: int

    @property
    def cursor(self) -> str:
        """A sensor cursor that orders like the events do."""
        return f"{self.created}:{self.id}"


def newest_billing_event(settings: Settings, timeout: float = 10.0) -> NewestEvent | None:
    """Ask the billing API for its newest event (`GET /v1/events?limit=1`, newest first).

    Args:
        settings: where billing is and its secret key.
        timeout: seconds before the request is given up.

    Returns:
        The newest event, or None when the account has none.

    Raises:
        ValueError: when no billing base URL is configured.
        httpx.HTTPError: when the API cannot be reached or refuses the request.
    """
    base = settings.billing.base_url
    if not base:
        raise ValueError(f"{source_env('billing', BASE_URL_KEY)} is not set")
    verify: str | bool = str(settings.ca_bundle) if settings.ca_bundle else True
    with httpx.Client(timeout=timeout, verify=verify) as client:
        response = client.get(
            f"{base}/v1/events",
            params={"limit": 1},
            headers={
                "Authorization": f"Bearer {settings.billing.token}",
                "Stripe-Version": STRIPE_VERSION,
            },
        )
        response.raise_for_status()
    data = response.json().get("data") or []
    if not data:
        return None
    return NewestEvent(id=str(data[0]["id"]), created=int(data[0]["created"]))
