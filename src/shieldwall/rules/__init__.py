"""shieldwall.rules."""
