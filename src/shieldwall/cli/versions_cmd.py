"""``shieldwall versions list|show|diff|rollback`` and ``shieldwall audit`` via the control API.

``versions diff N [--against M]`` prints the unified diff; ``versions rollback N`` makes a new
version with N's content and applies it.
"""

from __future__ import annotations

import argparse
import time
from urllib.parse import urlencode

from shieldwall.cli._api import add_common, call, emit, print_table, run

__all__ = ["add_arguments", "audit_add_arguments", "audit_main", "main"]


def _when(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="versions_command", required=True, metavar="ACTION")
    p = sub.add_parser("list", help="list config versions")
    p.add_argument("--limit", type=int, default=20)
    add_common(p)
    p = sub.add_parser("show", help="print a version's TOML")
    p.add_argument("version", type=int)
    add_common(p)
    p = sub.add_parser("diff", help="unified diff against the previous (or --against) version")
    p.add_argument("version", type=int)
    p.add_argument("--against", type=int)
    add_common(p)
    p = sub.add_parser("rollback", help="apply an earlier version again (as a new version)")
    p.add_argument("version", type=int)
    add_common(p)


def _do(args: argparse.Namespace) -> None:
    cmd = args.versions_command
    if cmd == "list":
        doc = call(args, "GET", f"/api/v1/versions?limit={args.limit}")
        rows = [
            (
                ("*" if v["version"] == doc["current"] else "") + str(v["version"]),
                _when(v["created_at"]),
                v["actor"],
                v["source"],
                v["reason"],
            )
            for v in doc["versions"]
        ]
        emit(args, doc, print_table(rows, ("VERSION", "WHEN", "WHO", "SOURCE", "WHY")))
    elif cmd == "show":
        doc = call(args, "GET", f"/api/v1/versions/{args.version}")
        emit(args, doc, doc["toml"].rstrip("\n"))
    elif cmd == "diff":
        extra = f"?against={args.against}" if args.against is not None else ""
        doc = call(args, "GET", f"/api/v1/versions/{args.version}/diff{extra}")
        emit(args, doc, doc["diff"].rstrip("\n") or "(no difference)")
    else:
        doc = call(args, "POST", f"/api/v1/versions/{args.version}/rollback")
        emit(args, doc, f"rolled back to {args.version}: now config version {doc['version']}")


def main(args: argparse.Namespace) -> int:
    return run(args, _do)


def audit_add_arguments(parser: argparse.ArgumentParser) -> None:
    for name in ("zone", "actor", "action"):
        parser.add_argument(f"--{name}")
    parser.add_argument("--limit", type=int, default=50)
    add_common(parser)


def audit_main(args: argparse.Namespace) -> int:
    def do(a: argparse.Namespace) -> None:
        params = {k: getattr(a, k) for k in ("zone", "actor", "action") if getattr(a, k)}
        params["limit"] = str(a.limit)
        doc = call(a, "GET", f"/api/v1/audit?{urlencode(params)}")
        rows = [
            (
                e["seq"],
                _when(e["at"]),
                e["actor"],
                e["client_ip"] or "-",
                e["action"],
                e["zone"] or "-",
                e["target"] or "-",
                e["version"] or "-",
            )
            for e in doc["entries"]
        ]
        emit(
            a,
            doc,
            print_table(
                rows, ("SEQ", "WHEN", "WHO", "FROM", "ACTION", "ZONE", "TARGET", "VERSION")
            ),
        )

    return run(args, do)
