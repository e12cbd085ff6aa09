"""closeloop: bench."""
