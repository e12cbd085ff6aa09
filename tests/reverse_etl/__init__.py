"""Tests of reverse ETL: policy, plan, apply, ledger, verify and the writeback commands."""
