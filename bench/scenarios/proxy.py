"""Pass-through proxy: nginx (anchor config) vs shieldwall (vs HAProxy) in front of one origin.

Loads: ``1k`` and ``64k`` static files, ``1k_varied`` (a different query string on every
request), and ``1k_browser`` (the 1 KB path with 11 browser-like
request headers, ~600 B, where per-header cost shows). For each load the contenders are run
interleaved, A B A B ..., each measured run preceded by a warm-up of the same server and path.
Per run: rps, p50/p99, socket errors, non-2xx, and the server's CPU per completed request
(process tree utime+stime delta / requests). Medians use clean runs only; unclean runs are
counted and listed. Issue targets (shieldwall vs nginx): rps >= 0.8x on 1 KB, >= 0.9x on 64 KB,
p99 <= 2x on every load.
"""

from __future__ import annotations

import argparse
import http.client
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.contenders import CONTENDERS, FILES, BenchEnv, start_origin
from bench.procs import ProcessSet, Server
from bench.profile import profile_server
from bench.report import emit_json, fmt_table, median, ratio
from bench.wrk import VARY_MARK, measure, varying_path_script

__all__ = ["BROWSER_HEADERS", "LOADS", "add_arguments", "main"]

BROWSER_HEADERS = (
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36",
    "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8",
    "Accept-Language: en-US,en;q=0.9,de;q=0.8",
    "Accept-Encoding: gzip, deflate, br",
    "Cookie: sessionid=8f14e45fceea167a5a36dedd4bea2543; csrftoken=c9f0f895fb98ab9159f51fd0297e"
    "236d; _ga=GA1.1.1234567890.1700000000; theme=dark",
    "Referer: http://127.0.0.1/index.html",
    "Sec-Fetch-Dest: document",
    "Sec-Fetch-Mode: navigate",
    "Sec-Fetch-Site: same-origin",
    "Sec-Fetch-User: ?1",
    "Upgrade-Insecure-Requests: 1",
)
# load name -> (path, extra request headers)
LOADS: dict[str, tuple[str, tuple[str, ...]]] = {
    "1k": ("/1k.bin", ()),
    "64k": ("/64k.bin", ()),
    "1k_browser": ("/1k.bin", BROWSER_HEADERS),
    # every request head differs (a query counter): what real, varied traffic costs, without
    # the edge's per-connection "same head as last time" shortcut that wrk's identical
    # requests otherwise enjoy
    "1k_varied": ("/1k.bin?v=" + VARY_MARK, ()),
}
RPS_TARGETS = {"1k": 0.8, "64k": 0.9}  # min rps ratio vs nginx
P99_TARGET = 2.0  # max p99 ratio vs nginx, every load
SANITY_TIMEOUT_S = 5.0
READY_HTTP_S = 20.0  # until the first proxied request must succeed


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--runs", type=int, default=3, help="measured runs per contender and load")
    p.add_argument("--duration", type=float, default=10.0, help="seconds per measured run")
    p.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up before each run")
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--loads", default=",".join(LOADS), help="comma list of " + ",".join(LOADS))
    p.add_argument(
        "--against",
        default="shieldwall",
        choices=[c for c in CONTENDERS if c != "nginx"],
        help="the B column (nginx_b = a second nginx, to exercise the harness)",
    )
    p.add_argument("--haproxy", action="store_true", help="add HAProxy as a third column")
    p.add_argument("--access-log", choices=["off", "file"], default="off")
    p.add_argument(
        "--profile",
        metavar="LOAD",
        help="after the runs, sample the B server's busiest process with py-spy during one "
        "more run of LOAD and print its hot spots",
    )
    p.add_argument("--keep-tmp", action="store_true", help="keep the temp dir (configs, logs)")


def _sanity_check(server: Server, path: str, headers: tuple[str, ...]) -> None:
    """Requests must return 200 and the exact body size before any load is trusted.

    Retried until ``READY_HTTP_S``: a supervisor may accept on its port before its worker
    is serving.
    """
    hdrs = dict(h.split(": ", 1) for h in headers)
    path = path.replace(VARY_MARK, "0")
    deadline = time.monotonic() + READY_HTTP_S
    while True:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=SANITY_TIMEOUT_S)
        try:
            conn.request("GET", path, headers=hdrs)
            resp = conn.getresponse()
            body = resp.read()
            problem = (
                None
                if resp.status == 200 and len(body) == FILES[path.partition("?")[0]]
                else f"answered {resp.status} with {len(body)} B (expected 200)"
            )
        except (OSError, http.client.HTTPException) as exc:
            problem = f"request failed: {exc!r}"
        finally:
            conn.close()
        if problem is None:
            return
        if time.monotonic() > deadline or server.proc.poll() is not None:
            raise RuntimeError(f"{server.name} {path}: {problem}\n{server.log_tail()}")
        time.sleep(0.2)


def _measure(
    server: Server, url: str, args: argparse.Namespace, headers: tuple[str, ...]
) -> dict[str, Any]:
    script = None
    if VARY_MARK in url:
        base, _, _ = url.partition("/1k.bin")
        script = varying_path_script(url[len(base) :], tempfile.gettempdir())
        url = base + "/"
    row = measure(
        server,
        url,
        duration_s=args.duration,
        warmup_s=args.warmup,
        connections=args.connections,
        headers=headers,
        script=script,
    )
    if server.proc.poll() is not None:
        raise RuntimeError(f"{server.name} died during the run\n{server.log_tail()}")
    return row


def _run_line(load: str, i: int, n: int, name: str, row: dict[str, Any]) -> str:
    flag = "" if row["clean"] else "  FLAGGED (errors/non-2xx)"
    return (
        f"[{load} run {i + 1}/{n}] {name:10s} {row['rps']:>10,.0f} rps"
        f"  p99 {row['p99_us']:>8,.0f} us  cpu {row['cpu_us_per_req']} us/req{flag}"
    )


def _profile(server: Server, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    if args.profile not in LOADS:
        raise SystemExit(f"--profile: unknown load {args.profile!r}")
    path, headers = LOADS[args.profile]
    url = f"http://127.0.0.1:{server.port}{path}"
    return profile_server(
        server, args.profile, url, list(headers), args.duration, args.connections, tmp
    )


def _summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    clean = [r for r in runs if r["clean"]]
    use = clean or runs  # all flagged: still report, but say so
    return {
        "rps": median([r["rps"] for r in use]),
        "p50_us": median([r["p50_us"] for r in use]),
        "p99_us": median([r["p99_us"] for r in use]),
        "cpu_us_per_req": median([r["cpu_us_per_req"] for r in use if r["cpu_us_per_req"]]),
        "runs": len(runs),
        "flagged_runs": len(runs) - len(clean),
        "all_runs_flagged": not clean,
        "per_run": [
            {k: r[k] for k in ("rps", "p99_us", "cpu_us_per_req", "errors", "non2xx")} for r in runs
        ],
    }


def main(args: argparse.Namespace) -> int:
    loads = [name.strip() for name in args.loads.split(",") if name.strip()]
    unknown = set(loads) - LOADS.keys()
    if unknown:
        raise SystemExit(f"unknown loads {sorted(unknown)}; choose from {list(LOADS)}")
    names = ["nginx", args.against] + (["haproxy"] if args.haproxy else [])
    tmp = Path(tempfile.mkdtemp(prefix="shieldwall-bench-"))
    results: dict[str, dict[str, Any]] = {}
    profile: dict[str, Any] | None = None
    started = time.monotonic()
    try:
        with ProcessSet() as procs:
            origin = start_origin(procs, tmp)
            env = BenchEnv(
                tmp=tmp, procs=procs, origin_port=origin.port, access_log=args.access_log
            )
            servers = {name: CONTENDERS[name](env) for name in names}
            for server in servers.values():
                for load in loads:
                    _sanity_check(server, *LOADS[load])
            for load in loads:
                path, headers = LOADS[load]
                runs: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
                for i in range(args.runs):
                    for name, server in servers.items():
                        row = _measure(
                            server, f"http://127.0.0.1:{server.port}{path}", args, headers
                        )
                        runs[name].append(row)
                        print(_run_line(load, i, args.runs, name, row), flush=True)
                results[load] = {n: _summarise(r) for n, r in runs.items()}
            if args.profile:
                profile = _profile(servers[args.against], args, tmp)
    finally:
        if not args.keep_tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    return _report(args, names, loads, results, profile, time.monotonic() - started, tmp)


def _report(
    args: argparse.Namespace,
    names: list[str],
    loads: list[str],
    results: dict[str, dict[str, Any]],
    profile: dict[str, Any] | None,
    elapsed_s: float,
    tmp: Path,
) -> int:
    rows = []
    ratios: dict[str, dict[str, dict[str, float | None]]] = {}
    for load in loads:
        base = results[load]["nginx"]
        ratios[load] = {}
        for name in names:
            s = results[load][name]
            flagged = f"{s['flagged_runs']}/{s['runs']}"
            rows.append(
                [load, name, s["rps"], s["p50_us"], s["p99_us"], s["cpu_us_per_req"], flagged]
            )
            if name != "nginx":
                ratios[load][name] = {
                    "rps": ratio(s["rps"], base["rps"]),
                    "p99": ratio(s["p99_us"], base["p99_us"]),
                    "cpu_us_per_req": ratio(s["cpu_us_per_req"], base["cpu_us_per_req"]),
                }
    print()
    print(fmt_table(["load", "server", "rps", "p50 us", "p99 us", "cpu us/req", "flagged"], rows))
    print()
    rrows = [
        [load, name, r["rps"], r["p99"], r["cpu_us_per_req"]]
        for load, per in ratios.items()
        for name, r in per.items()
    ]
    print(fmt_table(["load", "vs nginx", "rps x", "p99 x", "cpu/req x"], rrows))
    targets = _targets(args.against, loads, ratios, results)
    met = all(t["met"] for t in targets.values()) if targets else None
    print(
        f"\ntargets ({args.against} vs nginx): "
        + ", ".join(
            f"{k} {'OK' if v['met'] else 'MISSED'} ({v['value']} {v['op']} {v['target']})"
            for k, v in targets.items()
        )
    )
    if args.keep_tmp:
        print(f"configs and logs kept in {tmp}")
    summary = {
        load: {n: {k: v for k, v in s.items() if k != "per_run"} for n, s in per.items()}
        for load, per in results.items()
    }
    per_run = {load: {n: s["per_run"] for n, s in per.items()} for load, per in results.items()}
    emit_json(
        {
            "scenario": "proxy",
            "settings": {
                "runs": args.runs,
                "duration_s": args.duration,
                "warmup_s": args.warmup,
                "connections": args.connections,
                "wrk_threads": 1,
                "against": args.against,
                "shieldwall_access_log": args.access_log,
                "pinning": {"server": 1, "wrk_and_origin": 0},
                "note": "2 shared cores; other jobs may add noise",
                "elapsed_s": round(elapsed_s, 1),
            },
            "results": summary,
            "ratios_vs_nginx": ratios,
            "targets": targets,
            "targets_met": met,
            "per_run": per_run,
            "profile": profile,
        }
    )
    return 0


def _targets(
    against: str,
    loads: list[str],
    ratios: dict[str, dict[str, dict[str, float | None]]],
    results: dict[str, dict[str, Any]],
) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for load in loads:
        r = ratios[load][against]
        clean = not results[load][against]["all_runs_flagged"]
        if load in RPS_TARGETS:
            v = r["rps"]
            out[f"rps_{load}"] = {
                "value": v,
                "op": ">=",
                "target": RPS_TARGETS[load],
                "met": clean and v is not None and v >= RPS_TARGETS[load],
            }
        v = r["p99"]
        out[f"p99_{load}"] = {
            "value": v,
            "op": "<=",
            "target": P99_TARGET,
            "met": clean and v is not None and v <= P99_TARGET,
        }
    return out
