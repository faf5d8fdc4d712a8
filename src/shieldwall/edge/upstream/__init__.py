"""shieldwall.edge.upstream."""
