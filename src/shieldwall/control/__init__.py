"""shieldwall.control."""
