"""``shieldwall bans list`` / ``shieldwall bans lift TARGET``: the edge's IP bans over the API.

``list`` prints one line per ban (target, time left or ``permanent``, source, workers) and says
when the answer was cut (``--limit``, at most 1000). ``lift`` lifts an address or CIDR ban on
every worker; a config ban (IP access rule) is refused (exit 1: edit the rule), as is a target
no worker holds.
"""

from __future__ import annotations

import argparse

from shieldwall.cli._api import add_common, call, emit, print_table, q, run

__all__ = ["add_arguments", "main"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="bans_command", required=True, metavar="ACTION")
    p = sub.add_parser("list", help="bans held by the edge's workers")
    p.add_argument("--limit", type=int, default=1000, help="at most this many (<= 1000)")
    add_common(p)
    p = sub.add_parser("lift", help="lift an address or CIDR ban on every worker")
    p.add_argument("target", help="IP address or CIDR, e.g. 192.0.2.7 or 10.0.0.0/8")
    add_common(p)


def _left(seconds: object) -> str:
    return "permanent" if seconds is None else f"{float(str(seconds)):.0f}s"


def main(args: argparse.Namespace) -> int:
    def do(a: argparse.Namespace) -> None:
        if a.bans_command == "list":
            doc = call(a, "GET", f"/api/v1/bans?limit={int(a.limit)}")
            rows = [
                (b["target"], _left(b["seconds_left"]), b["source"],
                 ",".join(str(w) for w in b["workers"]))
                for b in doc["bans"]
            ]  # fmt: skip
            text = print_table(rows, ("TARGET", "LEFT", "SOURCE", "WORKERS"))
            shown = f"{len(rows)} of {doc['total']}" if doc["truncated"] else str(len(rows))
            text += f"\n{shown} bans" + (" (truncated)" if doc["truncated"] else "")
            for err in doc["errors"]:
                text += f"\nworker {err['worker']}: {err['error']}"
            emit(a, doc, text)
        else:
            path = "/".join(q(part) for part in a.target.split("/", 1))  # CIDR: two segments
            doc = call(a, "DELETE", f"/api/v1/bans/{path}")
            emit(a, doc, f"{doc['target']}: {doc['outcome']}")

    return run(args, do)
