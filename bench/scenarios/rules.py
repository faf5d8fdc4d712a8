"""Cost of custom firewall rules plus the managed WAF, on the real edge and in-process.

Throughput: pairs of shieldwall instances (the real CLI, one worker each, pinned like the
proxy scenario's contender) in front of one nginx origin that sends ``Cache-Control:
max-age=600`` (the cache scenario's origin): ``plain`` (a zone without rules) and ``rules``
(the same zone with ``RULE_COUNT`` realistic custom rules that do not match, so every one is
evaluated, plus the managed WAF at paranoia 1). One pair per mode (``--modes``): ``hit``, both
zones key their cache without the query (``ignore_query``), so in steady state every request
of either load is a cache hit (the cheapest answer the edge gives: the rules weigh most);
``pass``, both zones without a cache, every request proxied to the origin (a dynamic site's
pages). Loads (``--loads``): ``same``, the 1 KB file
with a query string and 11 browser headers, the same head on every request (wrk's way: a
connection that repeats its head gets its filters' outcome again without running them,
``pipeline.repeatable``); ``varied``, the same head with a counter added to the query (no two
heads equal: every request runs the firewall's and the WAF's per-request parts; the query is
plain, letters, digits and ``_``, so the WAF takes its plain-query path,
``waf/plain_query.py``); two loads for information (not in the default loads, no target):
``search``, the varied head with a form's search term added (``q=red+shoes``: still the
plain-query path), and ``encoded``, the same term percent-encoded (``q=red%20shoes``): the
WAF decodes the query's views and scans them with RE2 on every request. Runs are interleaved plain,
rules, ... each after a warm-up; the figure per ``load@mode`` is the rps ratio rules/plain
(target >= ``TARGET_RATIO``, i.e. rules cost <= 15 %) and the CPU µs per request difference.

(The origin sends an explicit lifetime: a file served with only ``Last-Modified`` gets a
heuristic freshness of a fraction of a second when just written, and the runs then measured
revalidation traffic rather than rules.)

Micro: per-request evaluation cost (µs) of the same firewall filter and WAF engine over the
benign corpus's contexts (``tests/waf/corpus``), head phase only, measured in-process.

``python -m bench waf_quality`` prints the WAF quality table (FP and detection per paranoia
level and class) over the corpora. Last line of both: one JSON object.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.contenders import SERVER_CPU, SHIELDWALL_READY_S, BenchEnv, shieldwall_toml
from bench.contenders import _pythonpath as pythonpath
from bench.procs import ProcessSet, Server, free_port
from bench.profile import profile_server
from bench.report import emit_json, fmt_table, median, ratio
from bench.scenarios.cache import _start_origin as start_cache_origin
from bench.scenarios.proxy import BROWSER_HEADERS
from bench.scenarios.proxy import _measure as measure
from bench.scenarios.proxy import _sanity_check as sanity_check
from bench.wrk import VARY_MARK, run_wrk, varying_path_script

__all__ = ["RULE_COUNT", "add_arguments", "custom_rules", "main", "main_quality"]

RULE_COUNT = 100
TARGET_RATIO = 0.85  # rules rps / plain rps
PATH = "/1k.bin?id=42&ref=home&utm_source=newsletter"
LOADS = {
    "same": PATH,
    "varied": PATH + "&n=" + VARY_MARK,
    "search": PATH + "&q=red+shoes&n=" + VARY_MARK,
    "encoded": PATH + "&q=red%20shoes&n=" + VARY_MARK,
}
INFO_LOADS = frozenset({"search", "encoded"})  # measured and shown, no target
# how both zones serve the file (``--modes``): ``hit``, from their cache (keyed without the
# query: every request of either load a hit, the cheapest answer there is, so the rules weigh
# most); ``pass``, without a cache, every request proxied to the origin (a dynamic site's
# pages, where a WAF matters most)
MODES = {
    "hit": "\n[zones.cache.key]\nignore_query = true\n",
    "pass": "\n[zones.cache]\nenabled = false\n",
}
MICRO_ROUNDS = 200  # passes over the benign corpus


def custom_rules(n: int = RULE_COUNT) -> list[dict[str, str]]:
    """``n`` rules of the shapes operators write; none matches the benchmark request."""
    shapes = [
        lambda i: f"ip.src in {{203.0.113.{i % 250}/32 198.51.{i % 250}.0/24}}",
        lambda i: f'http.request.uri.path eq "/blocked/{i}"',
        lambda i: f'starts_with(http.request.uri.path, "/private-{i}/")',
        lambda i: f'http.user_agent contains "badbot-{i}"',
        lambda i: f'ip.geoip.country eq "X{i % 10}" and http.request.method eq "POST"',
        lambda i: f'http.request.uri.path matches "^/api/v{i}/admin"',
        lambda i: f'http.request.uri.args["token"][0] eq "revoked-{i}"',
        lambda i: f'http.request.headers["x-attack-{i}"][0] ne ""',
        lambda i: f'http.host eq "old-{i}.example.com" or http.referer contains "spam-{i}.example"',
        lambda i: f'http.request.method eq "DELETE" and not ip.src in {{10.{i}.0.0/16}}',
    ]
    actions = ["block", "block", "challenge", "js_challenge", "log"]
    return [
        {"id": f"r{i}", "expression": shapes[i % len(shapes)](i), "action": actions[i % 5]}
        for i in range(n)
    ]


def rules_toml(n: int) -> str:
    out = ["\n[zones.waf]\nenabled = true\nparanoia = 1\n"]
    for r in custom_rules(n):
        out.append(
            "\n[[zones.firewall.rules]]\n"
            f'id = "{r["id"]}"\n'
            f"expression = '''{r['expression']}'''\n"
            f'action = "{r["action"]}"\n'
        )
    return "".join(out)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--runs", type=int, default=3, help="measured runs per instance")
    p.add_argument("--duration", type=float, default=8.0, help="seconds per measured run")
    p.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up before each run")
    p.add_argument("--connections", type=int, default=64)
    p.add_argument("--rules", type=int, default=RULE_COUNT, help="custom rules in the zone")
    p.add_argument(
        "--loads",
        default="same,varied",
        help="comma-separated: same, varied; search, encoded (information)",
    )
    p.add_argument(
        "--modes", default="hit,pass", help="comma-separated: hit (cache hits), pass (no cache)"
    )
    p.add_argument("--micro-only", action="store_true", help="skip the throughput runs")
    p.add_argument("--keep-tmp", action="store_true")
    p.add_argument(
        "--profile",
        choices=("plain", "rules"),
        help="instead of the measured runs: py-spy that instance during one load run",
    )


def _start(env: BenchEnv, name: str, extra: str, mode: str = "hit") -> Server:
    port = free_port()
    data_dir = env.tmp / f"{name}-data"
    data_dir.mkdir(exist_ok=True)
    conf = env.tmp / f"{name}.toml"
    base = shieldwall_toml(port=port, origin_port=env.origin_port, data_dir=data_dir, access_log="")
    conf.write_text(base + MODES[mode] + extra)
    return env.procs.start(
        name,
        [*env.shieldwall_cmd, "run", "-c", str(conf)],
        port=port,
        log_path=env.tmp / f"{name}.out",
        cpu=SERVER_CPU,
        ready_s=SHIELDWALL_READY_S,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": pythonpath()},
        cwd=env.tmp,
    )


def micro(n_rules: int) -> dict[str, float]:
    """Mean µs per request of the firewall filter and the WAF (head) over benign contexts."""
    from tests.waf.quality import load, make_ctx

    from shieldwall.config.firewall import FirewallConfig, FirewallRuleConfig, WafConfig
    from shieldwall.edge.filters.firewall import compile_zone_firewall
    from shieldwall.edge.filters.waf import WafFilter, compile_zone_waf

    fw = compile_zone_firewall(
        FirewallConfig(rules=tuple(FirewallRuleConfig(**r) for r in custom_rules(n_rules))),  # type: ignore[arg-type]
        {},
    )
    engine = compile_zone_waf(WafConfig(enabled=True))
    assert fw is not None and engine is not None
    waf = WafFilter(engine, "block")
    ctxs = [make_ctx(r) for r in load("benign.jsonl")]
    for c in ctxs:
        c.body_sample = None  # head phase only, like the edge today

    def run(f: Any) -> float:
        samples = []
        for _ in range(5):
            t0 = time.perf_counter()
            for _ in range(MICRO_ROUNDS // 5):
                for c in ctxs:
                    c.waf = None
                    f(c)
            samples.append((time.perf_counter() - t0) / (len(ctxs) * (MICRO_ROUNDS // 5)))
        return round(min(samples) * 1e6, 2)

    fw_us, waf_us = run(fw), run(waf)
    return {
        "firewall_us": fw_us,
        "waf_us": waf_us,
        "total_us": round(fw_us + waf_us, 2),
        "contexts": len(ctxs),
        "rules": n_rules,
        "waf_rules": len(engine.rule_ids),
    }


def main(args: argparse.Namespace) -> int:
    started = time.monotonic()
    mic = micro(args.rules)
    print(
        f"micro: firewall {mic['firewall_us']} µs + WAF {mic['waf_us']} µs per request "
        f"({mic['rules']} custom rules, {mic['waf_rules']} managed rules at PL1, "
        f"{mic['contexts']} benign contexts)",
        flush=True,
    )
    result: dict[str, Any] = {"scenario": "rules", "micro": mic}
    if args.profile:
        result["profile"] = _profile(args)
    elif not args.micro_only:
        result.update(_throughput(args))
    result["seconds"] = round(time.monotonic() - started, 1)
    emit_json(result)
    return 0


def _throughput(args: argparse.Namespace) -> dict[str, Any]:
    loads = [x.strip() for x in args.loads.split(",") if x.strip()]
    modes = [x.strip() for x in args.modes.split(",") if x.strip()]
    unknown = [x for x in loads if x not in LOADS] + [x for x in modes if x not in MODES]
    if unknown:
        raise SystemExit(
            f"unknown load(s)/mode(s) {unknown}; loads {sorted(LOADS)}, modes {sorted(MODES)}"
        )
    tmp = Path(tempfile.mkdtemp(prefix="shieldwall-bench-rules-"))
    # case "load@mode" -> zone -> rows
    cases = [(load, mode) for mode in modes for load in loads]
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {
        f"{load}@{mode}": {"plain": [], "rules": []} for load, mode in cases
    }
    try:
        with ProcessSet() as procs:
            origin, _ = start_cache_origin(procs, tmp)
            env = BenchEnv(tmp=tmp, procs=procs, origin_port=origin.port)
            servers = {
                (mode, name): _start(env, f"{name}-{mode}", extra, mode)
                for mode in modes
                for name, extra in (("plain", ""), ("rules", rules_toml(args.rules)))
            }
            for server in servers.values():
                sanity_check(server, PATH.split("?")[0], BROWSER_HEADERS)
            for load, mode in cases:
                case = f"{load}@{mode}"
                for i in range(args.runs):
                    for name in ("plain", "rules"):
                        server = servers[(mode, name)]
                        url = f"http://127.0.0.1:{server.port}{LOADS[load]}"
                        row = measure(server, url, args, BROWSER_HEADERS)
                        runs[case][name].append(row)
                        print(
                            f"[{case} run {i + 1}/{args.runs}] {name:6s} {row['rps']:>9,.0f} rps "
                            f"{row['cpu_us_per_req']} µs CPU/req p99 {row['p99_us']:.0f} µs"
                            + ("" if row["clean"] else "  FLAGGED"),
                            flush=True,
                        )
    finally:
        if not args.keep_tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    per_case: dict[str, Any] = {}
    table = []
    for case, by_zone in runs.items():
        summary = {}
        for name, rows in by_zone.items():
            clean = [r for r in rows if r["clean"]]
            summary[name] = {
                "rps": median([r["rps"] for r in clean]),
                "cpu_us_per_req": median(
                    [r["cpu_us_per_req"] for r in clean if r["cpu_us_per_req"]]
                ),
                "p99_us": median([r["p99_us"] for r in clean]),
                "flagged": len(rows) - len(clean),
            }
            s = summary[name]
            table.append([case, name, s["rps"], s["cpu_us_per_req"], s["p99_us"], s["flagged"]])
        rps_ratio = ratio(summary["rules"]["rps"], summary["plain"]["rps"])
        plain_cpu, rules_cpu = (
            summary["plain"]["cpu_us_per_req"],
            summary["rules"]["cpu_us_per_req"],
        )
        info = case.split("@")[0] in INFO_LOADS
        per_case[case] = {
            "zones": summary,
            "rps_ratio": rps_ratio,
            "cpu_ratio": ratio(plain_cpu, rules_cpu),
            "rules_cpu_us": (round(rules_cpu - plain_cpu, 2) if plain_cpu and rules_cpu else None),
            "target_met": None if info else rps_ratio is not None and rps_ratio >= TARGET_RATIO,
            "path": LOADS[case.split("@")[0]],
        }
    print(fmt_table(["load@mode", "zone", "rps", "CPU µs/req", "p99 µs", "flagged"], table))
    for case, r in per_case.items():
        print(
            f"{case}: rules/plain rps ratio {r['rps_ratio']} "
            + ("(information); " if r["target_met"] is None else f"(target >= {TARGET_RATIO}); ")
            + f"CPU-based ratio {r['cpu_ratio']}; rules cost {r['rules_cpu_us']} µs CPU/request"
        )
    return {
        "settings": {
            "rules": args.rules,
            "waf_paranoia": 1,
            "loads": loads,
            "modes": modes,
            "runs": args.runs,
            "duration_s": args.duration,
            "connections": args.connections,
        },
        "loads": per_case,
        "runs": runs,
        "target_ratio": TARGET_RATIO,
        "targets_met": all(r["target_met"] is not False for r in per_case.values()),
    }


def _profile(args: argparse.Namespace) -> dict[str, Any]:
    """py-spy one instance (``--profile plain|rules``) under the first of ``--loads`` and of
    ``--modes``."""
    tmp = Path(tempfile.mkdtemp(prefix="shieldwall-bench-rules-"))
    try:
        with ProcessSet() as procs:
            origin, _ = start_cache_origin(procs, tmp)
            env = BenchEnv(tmp=tmp, procs=procs, origin_port=origin.port)
            extra = rules_toml(args.rules) if args.profile == "rules" else ""
            mode = args.modes.split(",")[0].strip()
            server = _start(env, args.profile, extra, mode)
            sanity_check(server, PATH.split("?")[0], BROWSER_HEADERS)
            load = args.loads.split(",")[0].strip()
            base = f"http://127.0.0.1:{server.port}"
            url, script = base + LOADS[load], None
            if VARY_MARK in url:
                script = varying_path_script(LOADS[load], str(tmp))
                url = base + "/"
            headers = list(BROWSER_HEADERS)
            run_wrk(
                url,
                duration_s=args.warmup,
                connections=args.connections,
                headers=headers,
                script=script,
            )
            return profile_server(
                server, load, url, headers, args.duration, args.connections, tmp, script
            )
    finally:
        if not args.keep_tmp:
            shutil.rmtree(tmp, ignore_errors=True)


def add_quality_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--show-misses", action="store_true", help="list PL1 misses")


def main_quality(args: argparse.Namespace) -> int:
    from tests.waf.quality import evaluate, table

    result = evaluate()
    print(table(result))
    if args.show_misses:
        for m in result["levels"][1]["missed"]:
            print("missed at PL1:", m)
    slim = {
        "scenario": "waf_quality",
        "benign": result["benign"],
        "attack": result["attack"],
        "levels": {
            pl: {k: lv[k] for k in ("fp", "fp_rate", "detected", "detection", "classes")}
            for pl, lv in result["levels"].items()
        },
        "pl1_zero_fp": result["levels"][1]["fp"] == 0,
    }
    emit_json(slim)
    return 0
