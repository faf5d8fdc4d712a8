"""shieldwall.observability."""
