"""shieldwall.ratelimit."""
