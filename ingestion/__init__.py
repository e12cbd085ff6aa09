"""closeloop: ingestion."""
