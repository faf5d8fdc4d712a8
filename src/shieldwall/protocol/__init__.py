"""shieldwall.protocol."""
