"""Small operator commands against the control API: ``attack-mode``, ``purge``, ``abuse``.

* ``shieldwall attack-mode on|off ZONE`` -- security level ``under_attack`` / back to the level
  it had before.
* ``shieldwall purge ZONE (--url U ... | --prefix P ... | --host H ... | --tag T ... |
  --everything)`` -- every worker purges its cache; prints the total and each worker's count.
  A worker that did not purge (no answer in time, an error) makes it exit 1 naming the worker;
  purges are safe to repeat.
* ``shieldwall abuse list [--status S] [--zone Z]`` / ``abuse show ID`` /
  ``abuse triage ID --status S [--notes N]`` / ``abuse forward ID``.

One module, three entries of ``cli/main.py``'s table (``add_arguments``/``main`` per command).
"""

from __future__ import annotations

import argparse
import json
from urllib.parse import urlencode

from shieldwall.cli._api import add_common, call, emit, print_table, q, run

__all__ = [
    "abuse_add_arguments",
    "abuse_main",
    "attack_add_arguments",
    "attack_main",
    "purge_add_arguments",
    "purge_main",
]


def attack_add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("state", choices=("on", "off"))
    parser.add_argument("zone")
    add_common(parser)


def attack_main(args: argparse.Namespace) -> int:
    def do(a: argparse.Namespace) -> None:
        doc = call(
            a, "POST", f"/api/v1/zones/{q(a.zone)}/attack-mode", {"enabled": a.state == "on"}
        )
        emit(
            a,
            doc,
            f"{a.zone}: security level {doc['security_level']} (config version {doc['version']})",
        )

    return run(args, do)


def purge_add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("zone")
    g = parser.add_mutually_exclusive_group(required=True)
    g.add_argument("--url", action="append", help="purge this URL (repeatable)")
    g.add_argument("--prefix", action="append", help="purge URLs under this prefix")
    g.add_argument("--host", action="append", help="purge everything of this host name")
    g.add_argument("--tag", action="append", help="purge by cache tag")
    g.add_argument("--everything", action="store_true", help="purge the whole zone")
    add_common(parser)


def purge_main(args: argparse.Namespace) -> int:
    def do(a: argparse.Namespace) -> None:
        if a.everything:
            body: dict[str, object] = {"everything": True}
        else:
            given = (("urls", a.url), ("prefixes", a.prefix), ("hosts", a.host), ("tags", a.tag))
            body = {k: v for k, v in given if v}
        doc = call(a, "POST", f"/api/v1/zones/{q(a.zone)}/purge", body)
        workers = doc.get("workers", [])
        lines = [
            f"purge {doc['id']} ({doc['kind']}, zone {doc['zone']}): {doc['purged']} objects"
            f" removed on {len(workers)} workers"
        ]
        for w in workers:
            skipped = (
                f" (wildcard hosts not covered: {', '.join(w['skipped'])})"
                if w.get("skipped")
                else ""
            )
            lines.append(f"  worker {w['worker']}: {w.get('count', 0)}{skipped}")
        emit(a, doc, "\n".join(lines))

    return run(args, do)


def abuse_add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="abuse_command", required=True, metavar="ACTION")
    p = sub.add_parser("list", help="list abuse reports")
    p.add_argument("--status")
    p.add_argument("--zone")
    p.add_argument("--limit", type=int, default=50)
    add_common(p)
    p = sub.add_parser("show", help="one report")
    p.add_argument("id", type=int)
    add_common(p)
    p = sub.add_parser("triage", help="set status / notes")
    p.add_argument("id", type=int)
    p.add_argument("--status", required=True)
    p.add_argument("--notes")
    add_common(p)
    p = sub.add_parser("forward", help="forward to the zone owner's webhook")
    p.add_argument("id", type=int)
    add_common(p)


def abuse_main(args: argparse.Namespace) -> int:
    def do(a: argparse.Namespace) -> None:
        if a.abuse_command == "list":
            params = {k: v for k, v in (("status", a.status), ("zone", a.zone)) if v}
            params["limit"] = str(a.limit)
            doc = call(a, "GET", f"/api/v1/abuse?{urlencode(params)}")
            rows = [
                (
                    r["id"],
                    r["status"],
                    r["zone"] or "-",
                    r["category"],
                    r["reporter_email"],
                    " ".join(r["urls"])[:60],
                )
                for r in doc["reports"]
            ]
            emit(
                a, doc, print_table(rows, ("ID", "STATUS", "ZONE", "CATEGORY", "REPORTER", "URLS"))
            )
        elif a.abuse_command == "show":
            doc = call(a, "GET", f"/api/v1/abuse/{a.id}")
            emit(a, doc, json.dumps(doc["report"], indent=2))
        elif a.abuse_command == "triage":
            body = {"status": a.status, **({"notes": a.notes} if a.notes is not None else {})}
            doc = call(a, "PATCH", f"/api/v1/abuse/{a.id}", body)
            emit(a, doc, f"report {a.id}: {doc['report']['status']}")
        else:
            doc = call(a, "POST", f"/api/v1/abuse/{a.id}/forward")
            emit(a, doc, f"report {a.id} forwarded: {doc['forward_result']}")

    return run(args, do)
