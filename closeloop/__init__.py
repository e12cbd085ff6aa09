"""closeloop: order-to-cash ELT with reconciliation and governed write-back to the ERP."""

__version__ = "0.1.0"
