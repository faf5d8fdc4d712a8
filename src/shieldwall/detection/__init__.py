"""shieldwall.detection."""
