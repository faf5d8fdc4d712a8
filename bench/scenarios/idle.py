"""Memory held by idle keep-alive connections: shieldwall vs nginx (anchor proxy config).

For each server in turn (fresh process, same origin): one warm-up request, then the server's
process-tree memory is read from ``/proc/PID/smaps_rollup`` (Rss and Pss summed over the
supervisor/master and workers); N connections from many 127.1.x.y source addresses each send one
keep-alive request, read the answer and stay idle; after a short settle the memory is read
again. The delta is the cost of N idle connections in user space (kernel socket buffers are not
in RSS; the system-wide TCP page count from /proc/net/sockstat is shown for information, it
includes the client's sockets). Target: shieldwall's RSS delta <= 100 MB for 10,000.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import uvloop

from bench.contenders import CONTENDERS, LOAD_CPU, BenchEnv, start_origin
from bench.idleclient import IdleConnections, ensure_nofile
from bench.procs import ProcessSet, Server, read_smaps_rollup
from bench.report import emit_json, fmt_table, ratio

__all__ = ["add_arguments", "main"]

TARGET_MB = 100.0  # per 10,000 connections (scaled linearly for other counts)
SETTLE_S = 1.0  # after the last response, before reading memory
OPEN_DEADLINE_S = 120.0
PATH = "/1k.bin"
READY_HTTP_S = 20.0  # until the first proxied request must succeed


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--connections", type=int, default=10_000)
    p.add_argument("--per-address", type=int, default=50, help="connections per source IP")
    p.add_argument(
        "--against", default="shieldwall", choices=[c for c in CONTENDERS if c != "nginx"]
    )
    p.add_argument("--access-log", choices=["off", "file"], default="off")
    p.add_argument("--keep-tmp", action="store_true")


def _memory(server: Server) -> dict[str, int]:
    total = {"Rss": 0, "Pss": 0, "processes": 0}
    for pid in server.pids():
        try:
            m = read_smaps_rollup(pid)
        except (FileNotFoundError, ProcessLookupError):
            continue
        total["Rss"] += m.get("Rss", 0)
        total["Pss"] += m.get("Pss", 0)
        total["processes"] += 1
    return total


def _tcp_mem_pages() -> int:
    for line in Path("/proc/net/sockstat").read_text().splitlines():
        if line.startswith("TCP:"):
            parts = line.split()
            return int(parts[parts.index("mem") + 1])
    return 0


async def _measure(server: Server, n: int, per_address: int) -> dict[str, Any]:
    deadline = time.monotonic() + READY_HTTP_S  # a supervisor may accept before serving
    while True:
        warm = IdleConnections(server.port, PATH, per_address)
        await warm.open(1, OPEN_DEADLINE_S)
        await warm.close()
        if not warm.failures:
            break
        if time.monotonic() > deadline or server.proc.poll() is not None:
            raise RuntimeError(f"{server.name}: {warm.failures[0]}\n{server.log_tail()}")
        await asyncio.sleep(0.2)
    await asyncio.sleep(SETTLE_S)
    before, tcp0 = _memory(server), _tcp_mem_pages()
    conns = IdleConnections(server.port, PATH, per_address)
    t0 = time.monotonic()
    try:
        await conns.open(n, OPEN_DEADLINE_S)
        open_s = time.monotonic() - t0
        await asyncio.sleep(SETTLE_S)
        after, tcp1 = _memory(server), _tcp_mem_pages()
        alive = conns.alive()
    finally:
        await conns.close()
    if server.proc.poll() is not None:
        raise RuntimeError(f"{server.name} died\n{server.log_tail()}")
    rss = after["Rss"] - before["Rss"]
    pss = after["Pss"] - before["Pss"]
    return {
        "connections": n,
        "alive_at_measure": alive,
        "failures": len(conns.failures),
        "failure_sample": conns.failures[:3],
        "open_s": round(open_s, 2),
        "processes": after["processes"],
        "rss_before_mb": round(before["Rss"] / 2**20, 1),
        "rss_after_mb": round(after["Rss"] / 2**20, 1),
        "rss_delta_mb": round(rss / 2**20, 1),
        "pss_delta_mb": round(pss / 2**20, 1),
        "rss_per_conn_b": round(rss / n) if n else None,
        "kernel_tcp_mem_delta_mb_info": round(
            (tcp1 - tcp0) * os.sysconf("SC_PAGE_SIZE") / 2**20, 1
        ),
    }


def main(args: argparse.Namespace) -> int:
    ensure_nofile(args.connections)
    os.sched_setaffinity(0, {LOAD_CPU})  # this process is the client
    names = ["nginx", args.against]
    tmp = Path(tempfile.mkdtemp(prefix="shieldwall-bench-idle-"))
    results: dict[str, dict[str, Any]] = {}
    try:
        with ProcessSet() as procs:
            origin = start_origin(procs, tmp)
            env = BenchEnv(
                tmp=tmp, procs=procs, origin_port=origin.port, access_log=args.access_log
            )
            for name in names:
                server = CONTENDERS[name](env)
                try:
                    results[name] = uvloop.run(_measure(server, args.connections, args.per_address))
                finally:
                    procs.stop(server)
                r = results[name]
                print(
                    f"{name:10s} {r['alive_at_measure']}/{r['connections']} alive, "
                    f"RSS {r['rss_before_mb']} -> {r['rss_after_mb']} MB "
                    f"(+{r['rss_delta_mb']} MB, PSS +{r['pss_delta_mb']} MB), "
                    f"{r['failures']} failures",
                    flush=True,
                )
    finally:
        if not args.keep_tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    return _report(args, names, results)


def _report(args: argparse.Namespace, names: list[str], results: dict[str, dict[str, Any]]) -> int:
    print()
    print(
        fmt_table(
            ["server", "conns alive", "RSS delta MB", "PSS delta MB", "B/conn", "failures"],
            [
                [
                    n,
                    r["alive_at_measure"],
                    r["rss_delta_mb"],
                    r["pss_delta_mb"],
                    r["rss_per_conn_b"],
                    r["failures"],
                ]
                for n, r in results.items()
            ],
        )
    )
    target_mb = TARGET_MB * args.connections / 10_000
    sw = results[args.against]
    complete = sw["failures"] == 0 and sw["alive_at_measure"] == args.connections
    met = complete and sw["rss_delta_mb"] <= target_mb
    print(
        f"\ntarget: {args.against} RSS delta {sw['rss_delta_mb']} MB <= {target_mb:.0f} MB "
        f"-> {'OK' if met else 'MISSED'}{'' if complete else ' (not all connections held)'}"
    )
    emit_json(
        {
            "scenario": "idle",
            "settings": {
                "connections": args.connections,
                "per_address": args.per_address,
                "against": args.against,
                "shieldwall_access_log": args.access_log,
                "request": f"GET {PATH} (1 KB), keep-alive, then idle",
            },
            "results": results,
            "ratios_vs_nginx": {
                "rss_delta": ratio(sw["rss_delta_mb"], results["nginx"]["rss_delta_mb"]),
            },
            "target": {"metric": "rss_delta_mb", "op": "<=", "value": target_mb, "met": met},
        }
    )
    return 0
