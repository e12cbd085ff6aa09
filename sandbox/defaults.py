"""The sandbox's own tokens and ports: only the sandbox, its tests and the CLI's demo path use them.

Light on purpose (no server imports), so the CLI can show the ports as option defaults.
"""

from __future__ import annotations

#: Tokens the sandbox accepts unless it is served with others (never valid at a real vendor).
SANDBOX_DEFAULT_TOKENS = {
    "crm": "sandbox-crm-token",
    "billing": "sk_test_sandbox",
    "erp": "sandbox-erp-token",
}

#: Loopback ports `closeloop sandbox serve` uses unless told otherwise.
SANDBOX_DEFAULT_PORTS = {"crm": 8701, "billing": 8702, "erp": 8703}
