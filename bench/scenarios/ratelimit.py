"""429 throughput: every request over the limit, shieldwall vs nginx ``limit_req``.

Anchor (BENCHMARKING.md): ``limit_req_zone $binary_remote_addr zone=rl:10m rate=1r/m;
limit_req zone=rl; limit_req_status 429;``. shieldwall: one zone rule, 1 request per minute
per IP (``action = "block"``): after the first request every answer is a 429 with
``Retry-After``/``RateLimit`` fields. wrk -t1 -c64 from one address; runs interleaved; figures
are rps and the server's CPU per request. Target: shieldwall rps >= 0.8x nginx.

Loads (``--loads``): ``same`` (wrk's way, the target's load: every connection repeats one head,
so shieldwall answers a held refusal from its repeated-head memo, ``pipeline.repeatable``) and
``varied`` (a counter in the query: no two heads equal, every refusal goes through the filters
and the limiter's hold cache). Both are reported; the target is judged on ``same``.
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
    profile_during,
    start_logging_origin,
    start_nginx_with,
    start_shieldwall_with,
)
from bench.wrk import VARY_MARK, measure, run_wrk, varying_path_script

__all__ = ["add_arguments", "main"]

TARGET = 0.8
LOADS = {"same": "/1k.bin", "varied": "/1k.bin?v=" + VARY_MARK}
NGINX_HTTP = "  limit_req_zone $binary_remote_addr zone=rl:10m rate=1r/m;\n"
NGINX_LOCATION = (
    "      limit_req zone=rl;\n      limit_req_status 429;\n      proxy_pass http://origin;\n"
)
SHIELDWALL_TOML = """
[[zones.security.rate_limits]]
id = "per-ip"
requests = 1
period = "1m"
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--warmup", type=float, default=2.0)
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--loads", default="same,varied", help="comma-separated: same, varied")
    p.add_argument("--keep-tmp", action="store_true")
    p.add_argument(
        "--profile", action="store_true", help="py-spy the shieldwall worker during one more run"
    )


def _measure(server: Server, args: argparse.Namespace, load: str, tmp: Path) -> dict[str, Any]:
    path, script = LOADS[load], None
    if VARY_MARK in path:
        script = varying_path_script(path, str(tmp))
        path = "/"
    row = measure(
        server,
        f"http://127.0.0.1:{server.port}{path}",
        duration_s=args.duration,
        warmup_s=args.warmup,
        connections=args.connections,
        script=script,
    )
    # every request must be refused, none may fail
    row["clean"] = (
        row["errors"] == 0 and row["requests"] > 0 and (row["non2xx"] >= row["requests"] - 1)
    )
    return row


def main(args: argparse.Namespace) -> int:
    tmp = Path(tempfile.mkdtemp(prefix="sw-bench-rl-"))
    loads = [x.strip() for x in args.loads.split(",") if x.strip()]
    if not loads or any(x not in LOADS for x in loads):
        raise SystemExit(f"--loads: choose from {sorted(LOADS)}")
    rows: dict[str, dict[str, list[dict[str, Any]]]] = {
        load: {"nginx": [], "shieldwall": []} for load in loads
    }
    profile: dict[str, Any] | None = None
    try:
        with ProcessSet() as procs:
            origin, _ = start_logging_origin(procs, tmp)
            servers = {
                "nginx": start_nginx_with(
                    procs, tmp, "nginx", origin.port, NGINX_HTTP, NGINX_LOCATION
                ),
                "shieldwall": start_shieldwall_with(procs, tmp, origin.port, SHIELDWALL_TOML),
            }
            for load in loads:
                for i in range(args.runs):
                    for name, server in servers.items():
                        row = _measure(server, args, load, tmp)
                        rows[load][name].append(row)
                        print(
                            f"[{load} run {i + 1}/{args.runs}] {name:10s} "
                            f"{row['rps']:>10,.0f} rps  cpu {row['cpu_us_per_req']} us/req  "
                            f"non2xx {row['non2xx']}" + ("" if row["clean"] else "  FLAGGED"),
                            flush=True,
                        )
            if args.profile:
                sw = servers["shieldwall"]
                url = f"http://127.0.0.1:{sw.port}/1k.bin"
                profile = profile_during(
                    sw,
                    args.duration,
                    lambda: run_wrk(url, duration_s=args.duration, connections=args.connections),
                    tmp / "pyspy-shieldwall.txt",
                )
    finally:
        if not args.keep_tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    per_load: dict[str, Any] = {}
    table = []
    for load, by_server in rows.items():
        med = {
            n: {
                "rps": median([r["rps"] for r in rs if r["clean"]]),
                "cpu_us_per_req": median([r["cpu_us_per_req"] for r in rs if r["clean"]]),
            }
            for n, rs in by_server.items()
        }
        per_load[load] = {
            "medians": med,
            "rps_ratio": ratio(med["shieldwall"]["rps"], med["nginx"]["rps"]),
            "cpu_ratio_nginx_over_shieldwall": ratio(
                med["nginx"]["cpu_us_per_req"], med["shieldwall"]["cpu_us_per_req"]
            ),
        }
        table += [[load, n, m["rps"], m["cpu_us_per_req"]] for n, m in med.items()]
    print(fmt_table(["load", "server", "rps (median)", "cpu us/req"], table))
    for load, r in per_load.items():
        print(f"{load}: shieldwall/nginx rps {r['rps_ratio']} (target >= {TARGET} on same)")
    judged = per_load.get("same", {}).get("rps_ratio")
    emit_json(
        {
            "scenario": "ratelimit",
            "runs": rows,
            "loads": per_load,
            "rps_ratio": judged,
            "target": TARGET,
            "targets_met": judged is not None and judged >= TARGET,
            "profile": profile,
        }
    )
    return 0
