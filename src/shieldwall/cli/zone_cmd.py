"""``shieldwall zone add|list|show|set|delete`` against the control API.

``zone add NAME --host H --origin HOST:PORT`` creates a zone; ``zone set NAME KEY=VALUE ...``
merge-patches it, where KEY is a dotted path (``security.level=high``,
``https_redirect=true``) and VALUE is parsed as JSON when it can be (else a string).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from shieldwall.cli._api import add_common, call, emit, print_table, q, run

__all__ = ["add_arguments", "main", "parse_assignments"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="zone_command", required=True, metavar="ACTION")
    p = sub.add_parser("list", help="list zones")
    add_common(p)
    p = sub.add_parser("show", help="show a zone's document")
    p.add_argument("name")
    add_common(p)
    p = sub.add_parser("add", help="create a zone")
    p.add_argument("name")
    p.add_argument("--host", action="append", required=True, help="hostname (repeatable)")
    p.add_argument("--origin", action="append", required=True, help="HOST:PORT (repeatable)")
    add_common(p)
    p = sub.add_parser("set", help="change settings: KEY=VALUE (dotted keys, JSON values)")
    p.add_argument("name")
    p.add_argument("assignments", nargs="+", metavar="KEY=VALUE")
    add_common(p)
    p = sub.add_parser("delete", help="delete a zone")
    p.add_argument("name")
    add_common(p)


def parse_assignments(items: list[str]) -> dict[str, Any]:
    patch: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"shieldwall zone set: expected KEY=VALUE, got {item!r}")
        try:
            value: Any = json.loads(raw)
        except ValueError:
            value = raw
        node = patch
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return patch


def _origin(text: str) -> dict[str, Any]:
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise SystemExit(f"shieldwall zone add: --origin must be HOST:PORT, got {text!r}")
    return {"host": host.strip("[]"), "port": int(port)}


def _do(args: argparse.Namespace) -> None:
    cmd = args.zone_command
    if cmd == "list":
        doc = call(args, "GET", "/api/v1/zones")
        rows = [
            (z["name"], ",".join(z["hosts"]), z["origins"], z["security_level"])
            for z in doc["zones"]
        ]
        emit(args, doc, print_table(rows, ("NAME", "HOSTS", "ORIGINS", "SECURITY")))
    elif cmd == "show":
        doc = call(args, "GET", f"/api/v1/zones/{q(args.name)}")
        emit(args, doc, json.dumps(doc["zone"], indent=2))
    elif cmd == "add":
        body = {"name": args.name, "hosts": args.host, "origins": [_origin(o) for o in args.origin]}
        doc = call(args, "POST", "/api/v1/zones", body)
        emit(args, doc, f"zone {args.name} created (config version {doc['version']})")
    elif cmd == "set":
        doc = call(
            args, "PATCH", f"/api/v1/zones/{q(args.name)}", parse_assignments(args.assignments)
        )
        emit(args, doc, f"zone {args.name} updated (config version {doc['version']})")
    else:
        doc = call(args, "DELETE", f"/api/v1/zones/{q(args.name)}")
        emit(args, doc, f"zone {args.name} deleted (config version {doc['version']})")


def main(args: argparse.Namespace) -> int:
    return run(args, _do)
