"""Banned client refused at accept: connections per second, shieldwall vs nginx ``return 444``.

nginx (anchor): ``location / { return 444; }`` closes after reading the request. shieldwall:
a global IP access rule blocks 127.0.0.1/32; with no allow rule it goes into the accept-time
ban set and ``connection_made`` aborts the transport before reading a byte. The client
(``shield_clients conn``, pinned to the load CPU) opens connections with ``--concurrency`` in
flight, writes a request, waits for the close. Figures: conn/s and server CPU per connection.
Target: shieldwall conn/s >= 1.5x nginx.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path
from typing import Any

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
SHIELDWALL_TOML = """
[[shield.ip_access_rules]]
id = "banned-client"
mode = "block"
kind = "ip"
value = "127.0.0.1"
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--duration", type=float, default=5.0)
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--keep-tmp", action="store_true")


def _measure(server: Server, args: argparse.Namespace) -> dict[str, Any]:
    cpu0 = server.cpu_seconds()
    out = run_client("conn", server.port, args.duration, "--concurrency", str(args.concurrency))
    cpu = server.cpu_seconds() - cpu0
    n = out["connections"]
    out["cpu_us_per_conn"] = round(cpu * 1e6 / n, 2) if n else None
    out["clean"] = n > 0 and out["answered"] == 0 and out["connect_errors"] == 0
    return out


def main(args: argparse.Namespace) -> int:
    tmp = Path(tempfile.mkdtemp(prefix="sw-bench-ban-"))
    rows: dict[str, list[dict[str, Any]]] = {"nginx": [], "shieldwall": []}
    try:
        with ProcessSet() as procs:
            origin, _ = start_logging_origin(procs, tmp)
            servers = {
                "nginx": start_nginx_with(
                    procs, tmp, "nginx", origin.port, "", "      return 444;\n"
                ),
                "shieldwall": start_shieldwall_with(procs, tmp, origin.port, SHIELDWALL_TOML),
            }
            for i in range(args.runs):
                for name, server in servers.items():
                    row = _measure(server, args)
                    rows[name].append(row)
                    print(
                        f"[run {i + 1}/{args.runs}] {name:10s} {row['conn_per_s']:>10,.0f} conn/s"
                        f"  cpu {row['cpu_us_per_conn']} us/conn  refused {row['refused']}"
                        + ("" if row["clean"] else "  FLAGGED"),
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
            "runs": rows,
            "medians": med,
            "conn_ratio": r,
            "cpu_ratio_nginx_over_shieldwall": cpu_r,
            "target": TARGET,
            "targets_met": r is not None and r >= TARGET,
        }
    )
    return 0
