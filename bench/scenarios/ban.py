"""Banned client refused at accept: connections per second, shieldwall vs nginx ``return 444``.

nginx (anchor): ``location / { return 444; }`` closes after reading the request. shieldwall:
global IP access rules block the client addresses; with no allow rule they go into the
accept-time ban set and ``connection_made`` aborts the transport before reading a byte (a
reset: the listener carries ``SO_LINGER`` 0, see ``edge/server.py``).

Client (``--client c``, the default): ``bench/connflood.c``, ``--processes`` processes pinned
to the load CPU, ``--concurrency`` connections in flight each, from ``--sources`` addresses
127.64.0.x (all banned): connect, write a request, wait for the close, reset. It saturates
either server (the uvloop client, ``--client py``, from 127.0.0.1, topped out near 20k conn/s,
so its figure measured the client). Figures: conn/s, and the server's CPU per refused
connection (utime+stime of its process tree; on loopback the SYN/SYN-ACK/handshake work runs
in softirq on the *client's* CPU, so the server's figure is its accept + close + Python work).
Target: shieldwall conn/s >= 1.5x nginx.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path
from typing import Any

from bench.connflood import build_connflood, run_connflood, source_addresses
from bench.procs import ProcessSet, Server
from bench.report import emit_json, fmt_table, median, ratio
from bench.scenarios.shield_common import (
    run_client,
    start_logging_origin,
    start_nginx_with,
    start_shieldwall_with,
)

__all__ = ["add_arguments", "main"]

TARGET = 1.5
SOURCES = 16  # client source addresses (127.64.0.1 ..), each banned by an exact-IP rule


def shieldwall_toml() -> str:
    rules = [
        f'[[shield.ip_access_rules]]\nid = "banned-{i}"\nmode = "block"\nkind = "ip"\n'
        f'value = "{ip}"\n'
        for i, ip in enumerate(["127.0.0.1", *source_addresses(SOURCES)])
    ]
    return "\n" + "\n".join(rules)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--concurrency", type=int, default=64, help="in flight per client process")
    p.add_argument("--client", choices=["c", "py"], default="c")
    p.add_argument("--processes", type=int, default=3, help="C client processes (load CPU)")
    p.add_argument("--keep-tmp", action="store_true")


def _measure(server: Server, args: argparse.Namespace, exe: Path | None) -> dict[str, Any]:
    cpu0 = server.cpu_seconds()
    if exe is None:
        out = run_client("conn", server.port, args.duration, "--concurrency", str(args.concurrency))
    else:
        out = run_connflood(
            exe, server.port, args.duration, args.processes, args.concurrency, SOURCES
        )
    cpu = server.cpu_seconds() - cpu0
    n = out["refused"] + out["answered"]
    out["cpu_us_per_conn"] = round(cpu * 1e6 / n, 2) if n else None
    out["cpu_busy"] = round(cpu / out["elapsed_s"], 2)  # server cores used (1.0: saturated)
    out["clean"] = n > 0 and out["answered"] == 0 and out["connect_errors"] == 0
    return out


def main(args: argparse.Namespace) -> int:
    tmp = Path(tempfile.mkdtemp(prefix="sw-bench-ban-"))
    rows: dict[str, list[dict[str, Any]]] = {"nginx": [], "shieldwall": []}
    try:
        exe = build_connflood(tmp) if args.client == "c" else None
        with ProcessSet() as procs:
            origin, _ = start_logging_origin(procs, tmp)
            servers = {
                "nginx": start_nginx_with(
                    procs, tmp, "nginx", origin.port, "", "      return 444;\n"
                ),
                "shieldwall": start_shieldwall_with(procs, tmp, origin.port, shieldwall_toml()),
            }
            for i in range(args.runs):
                for name, server in servers.items():
                    row = _measure(server, args, exe)
                    rows[name].append(row)
                    print(
                        f"[run {i + 1}/{args.runs}] {name:10s} {row['conn_per_s']:>10,.0f} conn/s"
                        f"  cpu {row['cpu_us_per_conn']} us/conn  busy {row['cpu_busy']}"
                        f"  refused {row['refused']}" + ("" if row["clean"] else "  FLAGGED"),
                        flush=True,
                    )
    finally:
        if not args.keep_tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    med = {
        n: {
            "conn_per_s": median([r["conn_per_s"] for r in rs if r["clean"]]),
            "cpu_us_per_conn": median([r["cpu_us_per_conn"] for r in rs if r["clean"]]),
        }
        for n, rs in rows.items()
    }
    r = ratio(med["shieldwall"]["conn_per_s"], med["nginx"]["conn_per_s"])
    cpu_r = ratio(med["nginx"]["cpu_us_per_conn"], med["shieldwall"]["cpu_us_per_conn"])
    print(
        fmt_table(
            ["server", "conn/s (median)", "cpu us/conn"],
            [[n, m["conn_per_s"], m["cpu_us_per_conn"]] for n, m in med.items()],
        )
    )
    emit_json(
        {
            "scenario": "ban",
            "settings": {
                "client": args.client,
                "processes": args.processes,
                "concurrency": args.concurrency,
                "duration_s": args.duration,
            },
            "runs": rows,
            "medians": med,
            "conn_ratio": r,
            "cpu_ratio_nginx_over_shieldwall": cpu_r,
            "target": TARGET,
            "targets_met": r is not None and r >= TARGET,
        }
    )
    return 0
