"""``shieldwall rules``: the rules language tools (``check``, ``test``; ``rules_cmd``) plus a
zone's firewall rules through the control API (``list``, ``add``, ``delete``).

``rules add ZONE --id ID --expression EXPR --action block`` appends a rule to
``zones.firewall.rules``; the control plane validates it with the real decoder (a bad
expression -> the key path and reason, nothing changed).
"""

from __future__ import annotations

import argparse
import json

from shieldwall.cli import rules_cmd
from shieldwall.cli._api import add_common, call, emit, print_table, q, run

__all__ = ["add_arguments", "main"]

_API_ACTIONS = ("list", "add", "delete")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    rules_cmd.add_arguments(parser)
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    p = sub.add_parser("list", help="list a zone's firewall rules (control API)")
    p.add_argument("zone")
    add_common(p)
    p = sub.add_parser("add", help="append a firewall rule to a zone (control API)")
    p.add_argument("zone")
    p.add_argument("--id", required=True, help="rule id, unique in the zone")
    p.add_argument("--expression", required=True, help="rules-language expression")
    p.add_argument("--action", default="block", help="block, challenge, js_challenge, allow, log")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=JSON",
        help="any other rule field (repeatable)",
    )
    add_common(p)
    p = sub.add_parser("delete", help="delete a firewall rule (control API)")
    p.add_argument("zone")
    p.add_argument("id")
    add_common(p)


def _do(args: argparse.Namespace) -> None:
    base = f"/api/v1/zones/{q(args.zone)}/firewall-rules"
    if args.rules_command == "list":
        doc = call(args, "GET", base)
        rows = [
            (r.get("id"), r.get("action", ""), r.get("expression", ""))
            for r in doc["firewall-rules"]
        ]
        emit(args, doc, print_table(rows, ("ID", "ACTION", "EXPRESSION")))
    elif args.rules_command == "add":
        body = {"id": args.id, "expression": args.expression, "action": args.action}
        for item in args.set:
            key, _, raw = item.partition("=")
            try:
                body[key] = json.loads(raw)
            except ValueError:
                body[key] = raw
        doc = call(args, "POST", base, body)
        emit(args, doc, f"rule {args.id} added to {args.zone} (config version {doc['version']})")
    else:
        doc = call(args, "DELETE", f"{base}/{q(args.id)}")
        emit(
            args, doc, f"rule {args.id} deleted from {args.zone} (config version {doc['version']})"
        )


def main(args: argparse.Namespace) -> int:
    if args.rules_command not in _API_ACTIONS:
        return rules_cmd.main(args)
    return run(args, _do)
