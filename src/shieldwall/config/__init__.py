"""shieldwall.config."""
