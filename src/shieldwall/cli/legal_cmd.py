"""``shieldwall legal list|show|add|lift``: legal orders (451 at the edge) via the control API.

``legal add ZONE --authority "Court X" --reference 123 [--prefix /path | --url /path]
[--country DE ...] [--blocked-by URL] [--notes TEXT]``; ``legal lift ID --reason TEXT``.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from shieldwall.cli._api import add_common, call, emit, print_table, q, run

__all__ = ["add_arguments", "main"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="legal_command", required=True, metavar="ACTION")
    p = sub.add_parser("list", help="list legal orders")
    p.add_argument("--active", action="store_true", help="only orders in force")
    add_common(p)
    p = sub.add_parser("show", help="one order")
    p.add_argument("id")
    add_common(p)
    p = sub.add_parser("add", help="record a legal order (the edge answers 451)")
    p.add_argument("zone")
    p.add_argument("--authority", required=True, help="who issued the order")
    p.add_argument("--reference", default="", help="the order's reference")
    p.add_argument("--id", help="order id (default: generated)")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--url", help="block exactly this path")
    g.add_argument("--prefix", help="block paths starting with this")
    p.add_argument("--country", action="append", default=[], help="ISO code (repeatable)")
    p.add_argument("--blocked-by", help="URL for Link rel=blocked-by")
    p.add_argument("--notes", default="")
    add_common(p)
    p = sub.add_parser("lift", help="lift an order (service restored)")
    p.add_argument("id")
    p.add_argument("--reason", default="")
    add_common(p)


def _do(args: argparse.Namespace) -> None:
    cmd = args.legal_command
    if cmd == "list":
        doc = call(args, "GET", "/api/v1/legal" + ("?active=true" if args.active else ""))
        rows = [
            (
                o["id"],
                o["zone"],
                o["scope"],
                o["path"] or "-",
                ",".join(o["countries"]) or "*",
                o["authority"],
                "lifted" if o["lifted_at"] else "active",
            )
            for o in doc["orders"]
        ]
        emit(
            args,
            doc,
            print_table(rows, ("ID", "ZONE", "SCOPE", "PATH", "COUNTRIES", "AUTHORITY", "STATE")),
        )
    elif cmd == "show":
        doc = call(args, "GET", f"/api/v1/legal/{q(args.id)}")
        emit(args, doc, json.dumps(doc["order"], indent=2))
    elif cmd == "add":
        body: dict[str, Any] = {
            "zone": args.zone,
            "authority": args.authority,
            "reference": args.reference,
            "notes": args.notes,
        }
        if args.id:
            body["id"] = args.id
        if args.url or args.prefix:
            body["scope"], body["path"] = ("url", args.url) if args.url else ("prefix", args.prefix)
        if args.country:
            body["countries"] = args.country
        if args.blocked_by:
            body["blocked_by"] = args.blocked_by
        doc = call(args, "POST", "/api/v1/legal", body)
        emit(
            args,
            doc,
            f"legal order {doc['order']['id']} recorded (config version {doc['version']})",
        )
    else:
        doc = call(args, "POST", f"/api/v1/legal/{q(args.id)}/lift", {"reason": args.reason})
        emit(args, doc, f"legal order {args.id} lifted (config version {doc['version']})")


def main(args: argparse.Namespace) -> int:
    return run(args, _do)
