"""closeloop: reverse_etl."""
