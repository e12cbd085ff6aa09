"""Salesforce-shaped CRM API of the sandbox: SOQL over `crm.sqlite`, served with Starlette."""

from sandbox.crm.app import create_app
from sandbox.crm.errors import SalesforceError, SoqlError
from sandbox.crm.soql import compile_query, parse

__all__ = ["SalesforceError", "SoqlError", "compile_query", "create_app", "parse"]
