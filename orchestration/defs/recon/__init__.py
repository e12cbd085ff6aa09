"""Reconciliation health: custom asset checks on the recon and ops marts."""

import dagster as dg

from orchestration.defs.recon.checks import RECON_CHECKS

defs = dg.Definitions(asset_checks=RECON_CHECKS)
