"""``shieldwall audit``: see ``versions_cmd.py``."""

from shieldwall.cli.versions_cmd import audit_add_arguments as add_arguments
from shieldwall.cli.versions_cmd import audit_main as main

__all__ = ["add_arguments", "main"]
