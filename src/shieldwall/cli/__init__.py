"""shieldwall.cli."""
