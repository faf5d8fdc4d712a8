"""Cache-hit throughput, shieldwall vs nginx ``proxy_cache``, plus the cache-busting flood check.

Anchor (BENCHMARKING.md): the proxy anchor + ``proxy_cache c; proxy_cache_valid 200 10m;
open_file_cache max=1000 inactive=60s;`` with ``proxy_cache_path … keys_zone=c:10m max_size=100m
use_temp_path=off`` (``tcp_nopush off``: on, it stalls 64 KB hits over loopback). The origin
(static nginx on the load CPU, logging every request) sends ``Cache-Control: max-age=600`` so
both caches hold the objects for the whole run. shieldwall runs its defaults (cache on, memory
tier + disk tier under the run's data dir) with ``[zones.cache.key] ignore_query = true``.

Method: as the proxy scenario — one warm request per path, then per load interleaved runs of
``wrk -t1 -c64`` (warm-up run first), rps medians over clean runs, server CPU per request.
Targets: shieldwall rps >= 1.2x nginx on 1 KB hits, >= 1.0x on 64 KB hits.

Flood check: ``--flood N`` requests for ``/1k.bin?r=<random>`` (sequential keep-alive client,
bounded in count and time) at shieldwall; with ignore_query every one is a hit, so the
origin's log may grow by at most one request for the key (<= 1 per key per TTL).
"""

from __future__ import annotations

import argparse
import http.client
import random
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.nginx import _main_block
from bench.procs import ProcessSet, Server, free_port
from bench.profile import profile_server
from bench.report import emit_json, fmt_table, median, ratio
from bench.scenarios.shield_common import count_lines, start_nginx_with, start_shieldwall_with
from bench.wrk import measure

__all__ = ["add_arguments", "main"]

FILES = {"1k": ("/1k.bin", 1024), "64k": ("/64k.bin", 64 * 1024)}
TARGETS = {"1k": 1.2, "64k": 1.0}
FLOOD_DEADLINE_S = 60.0
NGINX_HTTP = (
    "  proxy_cache_path {tmp}/nginx-cache keys_zone=c:10m max_size=100m use_temp_path=off;\n"
    "  open_file_cache max=1000 inactive=60s;\n"
)
NGINX_LOCATION = (
    "      proxy_cache c;\n      proxy_cache_valid 200 10m;\n"
    "      proxy_pass http://origin;\n      proxy_http_version 1.1;\n"
    '      proxy_set_header Connection "";\n'
    "      proxy_buffer_size 16k;\n      proxy_buffers 8 16k;\n"
    "      proxy_busy_buffers_size 32k;\n"
)
SHIELDWALL_TOML = """
[zones.cache.key]
ignore_query = true
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--warmup", type=float, default=2.0)
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--loads", default="1k,64k")
    p.add_argument("--flood", type=int, default=5000, help="cache-busting requests (0: skip)")
    p.add_argument("--keep-tmp", action="store_true")
    p.add_argument("--profile", choices=sorted(FILES), help="py-spy shieldwall on this load")


def _start_origin(procs: ProcessSet, tmp: Path) -> tuple[Server, Path]:
    docroot = tmp / "docroot"
    docroot.mkdir(parents=True, exist_ok=True)
    for path, size in FILES.values():
        (docroot / path.lstrip("/")).write_bytes((b"shieldwall-bench" * (size // 16 + 1))[:size])
    log = tmp / "origin-access.log"
    port = free_port()
    conf = tmp / "origin.conf"
    conf.write_text(
        _main_block(tmp, "origin").replace("  access_log off;\n", f"  access_log {log};\n")
        + "  open_file_cache max=1000 inactive=60s;\n"
        + f"  server {{\n    listen 127.0.0.1:{port} backlog=4096;\n    root {docroot};\n"
        + '    add_header Cache-Control "max-age=600";\n  }\n}\n'
    )
    from bench.contenders import LOAD_CPU
    from bench.nginx import nginx_argv

    server = procs.start(
        "origin", nginx_argv(tmp, conf, "origin"), port=port, log_path=tmp / "origin.out",
        cpu=LOAD_CPU,
    )  # fmt: skip
    return server, log


def _get(port: int, target: str) -> tuple[int, int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", target)
        resp = conn.getresponse()
        return resp.status, len(resp.read()), resp.getheader("sw-cache") or ""
    finally:
        conn.close()


def _warm(server: Server, path: str, size: int) -> None:
    deadline = time.monotonic() + 20
    while True:
        try:
            status, n, _ = _get(server.port, path)
            if status == 200 and n == size:
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{server.name} {path}: not ready\n{server.log_tail()}")
        time.sleep(0.2)


def _measure(server: Server, path: str, args: argparse.Namespace) -> dict[str, Any]:
    return measure(
        server,
        f"http://127.0.0.1:{server.port}{path}",
        duration_s=args.duration,
        warmup_s=args.warmup,
        connections=args.connections,
    )


def _flood(server: Server, log: Path, n: int) -> dict[str, Any]:
    before = count_lines(log)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    statuses: dict[str, int] = {}
    sent = 0
    deadline = time.monotonic() + FLOOD_DEADLINE_S
    try:
        while sent < n and time.monotonic() < deadline:
            conn.request("GET", f"/1k.bin?r={random.getrandbits(64):x}")
            resp = conn.getresponse()
            resp.read()
            key = resp.getheader("sw-cache") or str(resp.status)
            statuses[key] = statuses.get(key, 0) + 1
            sent += 1
    finally:
        conn.close()
    time.sleep(1.2)  # nginx flushes its access log buffer
    origin_requests = count_lines(log) - before
    return {"sent": sent, "statuses": statuses, "origin_requests": origin_requests,
            "ok": sent > 0 and origin_requests <= 1}  # fmt: skip


def main(args: argparse.Namespace) -> int:
    loads = [x.strip() for x in args.loads.split(",") if x.strip()]
    tmp = Path(tempfile.mkdtemp(prefix="sw-bench-cache-"))
    rows: dict[str, dict[str, list[dict[str, Any]]]] = {}
    flood: dict[str, Any] | None = None
    profile: dict[str, Any] | None = None
    try:
        with ProcessSet() as procs:
            origin, log = _start_origin(procs, tmp)
            servers = {
                "nginx": start_nginx_with(
                    procs, tmp, "nginx", origin.port, NGINX_HTTP.format(tmp=tmp), NGINX_LOCATION
                ),
                "shieldwall": start_shieldwall_with(procs, tmp, origin.port, SHIELDWALL_TOML),
            }
            for server in servers.values():
                for load in loads:
                    _warm(server, *FILES[load])
            for load in loads:
                rows[load] = {n: [] for n in servers}
                for i in range(args.runs):
                    for name, server in servers.items():
                        row = _measure(server, FILES[load][0], args)
                        rows[load][name].append(row)
                        print(
                            f"[{load} run {i + 1}/{args.runs}] {name:10s} {row['rps']:>10,.0f} rps"
                            f"  cpu {row['cpu_us_per_req']} us/req"
                            + ("" if row["clean"] else "  FLAGGED"),
                            flush=True,
                        )
            if args.profile:
                sw = servers["shieldwall"]
                url = f"http://127.0.0.1:{sw.port}{FILES[args.profile][0]}"
                profile = profile_server(
                    sw, args.profile, url, [], args.duration, args.connections, tmp
                )
            if args.flood:
                flood = _flood(servers["shieldwall"], log, args.flood)
                print(f"flood: {flood}", flush=True)
    finally:
        if not args.keep_tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    return _report(rows, flood, profile)


def _report(
    rows: dict[str, dict[str, list[dict[str, Any]]]],
    flood: dict[str, Any] | None,
    profile: dict[str, Any] | None = None,
) -> int:
    med: dict[str, dict[str, Any]] = {}
    table = []
    met = flood is None or bool(flood["ok"])
    for load, by_server in rows.items():
        m: dict[str, Any] = {
            n: {
                "rps": median([r["rps"] for r in rs if r["clean"]]),
                "cpu_us_per_req": median([r["cpu_us_per_req"] for r in rs if r["clean"]]),
            }
            for n, rs in by_server.items()
        }
        r = ratio(m["shieldwall"]["rps"], m["nginx"]["rps"])
        m["rps_ratio"] = r
        m["target"] = TARGETS[load]
        met = met and r is not None and r >= TARGETS[load]
        med[load] = m
        for n in by_server:
            table.append([load, n, m[n]["rps"], m[n]["cpu_us_per_req"]])
        table.append([load, "ratio", r, ""])
    print(fmt_table(["load", "server", "rps (median)", "cpu us/req"], table))
    emit_json({"scenario": "cache", "runs": rows, "medians": med, "flood": flood,
               "profile": profile, "targets_met": met})  # fmt: skip
    return 0
