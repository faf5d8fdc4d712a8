"""shieldwall.state."""
