"""shieldwall.demo: the sample origin behind ``shieldwall demo``."""
