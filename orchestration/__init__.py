"""closeloop: orchestration."""
