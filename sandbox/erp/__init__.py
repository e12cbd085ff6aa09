"""NetSuite-shaped ERP API of the sandbox: SuiteQL and the REST record API over erp.sqlite."""

from sandbox.erp.app import create_app

__all__ = ["create_app"]
