"""``shieldwall abuse``: see ``ops_cmd.py``."""

from shieldwall.cli.ops_cmd import abuse_add_arguments as add_arguments
from shieldwall.cli.ops_cmd import abuse_main as main

__all__ = ["add_arguments", "main"]
