"""Dagster definitions of closeloop, one folder per integration (ingestion, dbt, write-back)."""
