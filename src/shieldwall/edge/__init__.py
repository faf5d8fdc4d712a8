"""shieldwall.edge."""
