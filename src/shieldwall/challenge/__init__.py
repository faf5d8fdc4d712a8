"""shieldwall.challenge."""
