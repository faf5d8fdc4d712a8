"""``shieldwall`` command line: an explicit table of sub-commands.

Each command module exposes ``add_arguments(parser)`` and ``main(args) -> int`` and is imported
only when its command runs (start-up stays fast, and a missing optional part fails loudly).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

__all__ = ["COMMANDS", "main"]

# name -> (module, help)
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("shieldwall.cli.run", "run the edge with a config file"),
    "demo": ("shieldwall.cli.demo", "start a sample origin and an edge in front of it"),
    "config": ("shieldwall.cli.config_api_cmd", "configuration tools (validate, docs, export)"),
    "rules": (
        "shieldwall.cli.rules_api_cmd",
        "rules language tools (check, test); zone firewall rules (list, add, delete)",
    ),
    # operator commands against the control API (--api/--token or SHIELDWALL_API/_TOKEN)
    "zone": ("shieldwall.cli.zone_cmd", "zones: add, list, show, set, delete"),
    "attack-mode": ("shieldwall.cli.attack_cmd", "attack mode on|off ZONE (under_attack)"),
    "purge": ("shieldwall.cli.purge_cmd", "purge cached objects of a zone on every worker"),
    "bans": ("shieldwall.cli.bans_cmd", "IP bans of the edge: list, lift TARGET"),
    "events": ("shieldwall.cli.events_cmd", "security events: tail (live, filtered)"),
    "legal": ("shieldwall.cli.legal_cmd", "legal orders: list, show, add, lift (451)"),
    "abuse": ("shieldwall.cli.abuse_cmd", "abuse reports: list, show, triage, forward"),
    "versions": ("shieldwall.cli.versions_cmd", "config versions: list, show, diff, rollback"),
    "audit": ("shieldwall.cli.audit_cmd", "query the audit log"),
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="shieldwall", description="self-hosted edge network")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    argv = list(sys.argv[1:] if argv is None else argv)
    chosen = argv[0] if argv and argv[0] in COMMANDS else None
    for name, (module, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text)
        if name == chosen:
            mod = importlib.import_module(module)
            mod.add_arguments(p)
            p.set_defaults(_main=mod.main)
    args = parser.parse_args(argv)
    rc: int = args._main(args)
    return rc


if __name__ == "__main__":
    raise SystemExit(main())
