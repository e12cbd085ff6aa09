"""dlt sources of closeloop: one package per source system."""
