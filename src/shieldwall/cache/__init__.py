"""shieldwall.cache."""
