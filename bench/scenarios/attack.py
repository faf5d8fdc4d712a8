"""Attack: a flood from many 127.x.y.z addresses plus a few real visitors, with and without
shieldwall in front of the origin.

Without: nginx (anchor proxy config) forwards everything. With: shieldwall, edge-wide per-IP
cap (``per_ip_requests`` per ``per_ip_period``, ``per_ip_action = "ban"``): a flooder is banned
after its first burst and its reconnects are refused at accept.

The cap, as an operator sets it: 10 requests per 2 s (``--per-ip-requests/--per-ip-period``).
Each flood address gets that many requests through before its ban, so the flood's first burst
is ``flood_ips x per_ip_requests`` proxied requests (3,000 by default), the part of the attack a
per-IP cap cannot stop. Visitors (2 requests/s) keep 2x headroom in every window and may burst
10. (The earlier 20 per 10 s admitted twice the burst and sat exactly at the visitors' own
rate: the sliding estimate puts a steady 2 requests/s visitor over it after ~10 s.)

Clients: the flood and the visitors are separate processes on the load CPU (in one process the
visitors measured the flood client's event-loop queueing). Visitors start 0.5 s after the flood,
so each one's first request (connect + request) lands in the burst: ``opening_ms`` lists those,
``first_2s``/``after_2s`` split the percentiles. Shieldwall's zone cache is off by default
(``--cache on``) so the origin sees every admitted request, as behind nginx.
Figures: visitors' success rate and p99 latency, the flood's answered rate, and the origin's
request rate (lines in its access log / duration). Target with shieldwall: visitors >= 99%
successful with p99 <= 100 ms.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path
from typing import Any

from bench.procs import ProcessSet
from bench.report import emit_json, fmt_table
from bench.scenarios.shield_common import (
    PROXY_LOCATION,
    count_lines,
    run_clients,
    start_logging_origin,
    start_nginx_with,
    start_shieldwall_with,
)

__all__ = ["add_arguments", "main"]

SUCCESS_TARGET = 0.99
P99_TARGET_MS = 100.0
SHIELDWALL_TOML = """
[shield]
per_ip_requests = {requests}
per_ip_period = "{period}"
per_ip_action = "ban"
ban_duration = "10m"
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--flood-ips", type=int, default=300)
    p.add_argument("--visitors", type=int, default=5)
    p.add_argument("--visitor-rate", type=float, default=2.0, help="requests/s per visitor")
    p.add_argument(
        "--cache",
        choices=["off", "on"],
        default="off",
        help="shieldwall zone cache (off: the origin sees every admitted request, as with nginx)",
    )
    p.add_argument("--per-ip-requests", type=int, default=10)
    p.add_argument("--per-ip-period", default="2s")
    p.add_argument("--fronts", default="nginx,shieldwall", help="which fronts to run, in order")
    p.add_argument("--keep-tmp", action="store_true")


def _run(name: str, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    with ProcessSet() as procs:
        origin, log = start_logging_origin(procs, tmp / name)
        if name == "nginx":
            server = start_nginx_with(procs, tmp / name, "nginx", origin.port, "", PROXY_LOCATION)
        else:
            server = start_shieldwall_with(
                procs,
                tmp / name,
                origin.port,
                SHIELDWALL_TOML.format(requests=args.per_ip_requests, period=args.per_ip_period),
                cache=args.cache == "on",
            )
        before = count_lines(log)
        # the flood and the visitors are separate processes (a visitor's browser does not share
        # the attacker's event loop; in one process the visitors measured the client's own
        # queueing), both pinned to the load CPU with the origin
        flood, visitors = run_clients(
            [
                ("attack", server.port, args.duration,
                 ("--flood-ips", str(args.flood_ips), "--visitors", "0")),
                ("attack", server.port, args.duration,
                 ("--flood-ips", "0", "--visitors", str(args.visitors),
                  "--visitor-rate", str(args.visitor_rate))),
            ]
        )  # fmt: skip
        out = {"elapsed_s": flood["elapsed_s"], "flood": flood["flood"]}
        out["visitors"] = visitors["visitors"]
        out["origin_rps"] = round((count_lines(log) - before) / out["elapsed_s"], 1)
        return out


def main(args: argparse.Namespace) -> int:
    tmp = Path(tempfile.mkdtemp(prefix="sw-bench-attack-"))
    results: dict[str, dict[str, Any]] = {}
    try:
        for name in args.fronts.split(","):
            (tmp / name).mkdir()
            results[name] = _run(name, args, tmp)
            v = results[name]["visitors"]
            print(
                f"{name:10s} visitors ok {v['success_rate']}  p50 {v['p50_ms']} ms  "
                f"p99 {v['p99_ms']} ms (first 2 s {v['first_2s'].get('p99_ms')}, after "
                f"{v['after_2s'].get('p99_ms')})  flood answered {results[name]['flood']['rps']} "
                f"rps, connects {results[name]['flood']['connects']}  "
                f"origin {results[name]['origin_rps']} rps",
                flush=True,
            )
    finally:
        if not args.keep_tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    rows = [
        [n, r["visitors"]["success_rate"], r["visitors"]["p50_ms"], r["visitors"]["p99_ms"],
         r["flood"]["rps"], r["origin_rps"]]
        for n, r in results.items()
    ]  # fmt: skip
    print(
        fmt_table(
            ["front", "visitor ok", "p50 ms", "p99 ms", "flood answered rps", "origin rps"], rows
        )
    )
    sw = results["shieldwall"]["visitors"] if "shieldwall" in results else {}
    met = bool(sw) and (
        sw["success_rate"] is not None
        and sw["success_rate"] >= SUCCESS_TARGET
        and sw["p99_ms"] is not None
        and sw["p99_ms"] <= P99_TARGET_MS
    )
    emit_json(
        {
            "scenario": "attack",
            "settings": {
                "duration_s": args.duration,
                "flood_ips": args.flood_ips,
                "visitors": args.visitors,
                "visitor_rate": args.visitor_rate,
                "shieldwall_cache": args.cache,
                "per_ip_cap": f"{args.per_ip_requests}/{args.per_ip_period}",
            },
            "results": results,
            "targets": {"visitor_success": SUCCESS_TARGET, "visitor_p99_ms": P99_TARGET_MS},
            "targets_met": met,
        }
    )
    return 0
