"""shieldwall.edge.filters."""
