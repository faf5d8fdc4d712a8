"""shieldwall.waf."""
