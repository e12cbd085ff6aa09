"""Stripe-shaped billing API of the sandbox: `create_app(paths)` returns its Starlette app."""

from sandbox.billing.app import create_app

__all__ = ["create_app"]
