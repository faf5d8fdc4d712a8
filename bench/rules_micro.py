"""Microbenchmarks of the rules engine, in-process (no sockets).

``python bench/rules_micro.py [--suite exprs] [--number N] [--repeat R]``: evaluates each
expression against one browser-like ``RequestContext`` (11 headers, query, cookies) and prints
the median ns per evaluation for each backend (codegen, closures).

``python bench/rules_micro.py --suite zone100 [--number N] [--repeat R]``: the zone of
``python -m bench rules`` (``RULE_COUNT`` custom rules + managed WAF at PL1, built from the same
TOML through the production chain builder) and the same zone without rules; for ~10 realistic
requests (browser page, asset, API POST JSON, search, bots, attacks) prints the median µs of
the zone's whole ``request_headers`` chain per request, and the firewall and WAF filters
alone. Per-request state the filters write (``ctx.waf``, ``ctx.security_*``) is reset before
each call, so every call does the full work. Bounded: N x R calls per request and variant.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

from shieldwall.config.model import Config
from shieldwall.edge.context import ConnectionInfo, RequestContext
from shieldwall.edge.runtime import build_runtime
from shieldwall.rules import NamedList, compile_rule

EXPRESSIONS = {
    "eq method": 'http.request.method eq "POST"',
    "path regex + not ip list": (
        'http.request.uri.path matches "^/wp-(admin|login)" and not ip.src in $office'
    ),
    "issue example 2": (
        '(http.request.method eq "POST" and http.user_agent eq "") '
        "or ip.geoip.asnum in {64496 64511}"
    ),
    "header any [*]": 'any(http.request.headers["accept"][*] contains "json")',
    "ua used 3x": (
        'http.user_agent contains "curl" or http.user_agent contains "python" '
        'or lower(http.user_agent) wildcard "*bot*"'
    ),
    "query arg + cookie": (
        'http.request.uri.args["id"][0] eq "7" and http.request.cookies["session"][0] ne ""'
    ),
    "ip set": "ip.src in {192.0.2.0/24 198.51.100.0/24 2001:db8::/32 10.0.0.0/8}",
    "8-term or chain": " or ".join(f'http.host eq "h{i}.example"' for i in range(8)),
}

HEADERS = [
    (b"host", b"www.example.com"),
    (b"user-agent", b"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari"),
    (b"accept", b"text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
    (b"accept-language", b"en-US,en;q=0.9"),
    (b"accept-encoding", b"gzip, deflate, br"),
    (b"cookie", b"session=abc123; theme=dark; _ga=GA1.2.3"),
    (b"referer", b"https://www.example.com/start"),
    (b"sec-fetch-dest", b"document"),
    (b"sec-fetch-mode", b"navigate"),
    (b"sec-fetch-site", b"same-origin"),
    (b"upgrade-insecure-requests", b"1"),
]


def make_ctx() -> RequestContext:
    conn = ConnectionInfo("203.0.113.9", 5000, "203.0.113.9", 5000, 443, scheme="https")
    return RequestContext(
        conn=conn,
        runtime=build_runtime(Config(), 0),
        request_id="b",
        started=0.0,
        method=b"GET",
        target=b"/blog/post?id=7&utm_source=x",
        path=b"/blog/post",
        query=b"id=7&utm_source=x",
        headers=HEADERS,
        host="www.example.com",
        client_ip="203.0.113.9",
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--suite", choices=("exprs", "zone100"), default="exprs")
    ap.add_argument("--number", type=int, default=0, help="calls per repeat (0: suite default)")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", action="store_true", help="zone100: also print one JSON line")
    ap.add_argument(
        "--stat", choices=("median", "min"), default="median", help="zone100: over the repeats"
    )
    args = ap.parse_args()
    global _STAT
    _STAT = args.stat
    if args.suite == "zone100":
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the bench package
        run_zone_suite(args.number or 2_000, args.repeat, args.json)
        return
    args.number = args.number or 20_000
    lists = {"office": NamedList("ip", ["192.0.2.0/24", "2001:db8::/32"])}
    ctx = make_ctx()
    print(f"{'expression':28} {'codegen ns':>11} {'closures ns':>12} {'ratio':>6}")
    totals = {"codegen": 0.0, "closures": 0.0}
    for name, expr in EXPRESSIONS.items():
        row = {}
        for backend in ("codegen", "closures"):
            fn = compile_rule(expr, lists=lists, backend=backend).matches  # type: ignore[arg-type]
            fn(ctx)
            times = timeit.repeat(lambda fn=fn: fn(ctx), number=args.number, repeat=args.repeat)
            row[backend] = statistics.median(times) / args.number * 1e9
            totals[backend] += row[backend]
        ratio = row["closures"] / row["codegen"]
        print(f"{name:28} {row['codegen']:11.0f} {row['closures']:12.0f} {ratio:6.2f}")
    ratio = totals["closures"] / totals["codegen"]
    print(f"{'sum':28} {totals['codegen']:11.0f} {totals['closures']:12.0f} {ratio:6.2f}")


_STAT = "median"  # zone100: "min" is steadier on a shared machine


# -- suite zone100 ----------------------------------------------------------------------------
_BROWSER = [
    (b"host", b"127.0.0.1"),
    (
        b"user-agent",
        b"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        b"Chrome/124.0.0.0 Safari/537.36",
    ),
    (b"accept", b"text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"),
    (b"accept-language", b"en-US,en;q=0.9,de;q=0.8"),
    (b"accept-encoding", b"gzip, deflate, br"),
    (
        b"cookie",
        b"sessionid=8f14e45fceea167a5a36dedd4bea2543; csrftoken=c9f0f895fb98ab9159f51f"
        b"d0297e236d; _ga=GA1.1.1234567890.1700000000; theme=dark",
    ),
    (b"referer", b"http://127.0.0.1/index.html"),
    (b"sec-fetch-dest", b"document"),
    (b"sec-fetch-mode", b"navigate"),
    (b"sec-fetch-site", b"same-origin"),
    (b"sec-fetch-user", b"?1"),
    (b"upgrade-insecure-requests", b"1"),
]


def _with(headers: list[tuple[bytes, bytes]], **changes: bytes) -> list[tuple[bytes, bytes]]:
    """``headers`` with some values replaced (``user_agent=`` for ``user-agent``) or added."""
    out = dict(headers)
    for k, v in changes.items():
        out[k.replace("_", "-").encode()] = v
    return list(out.items())


_ASSET = [
    (b"host", b"127.0.0.1"),
    (b"user-agent", _BROWSER[1][1]),
    (b"accept", b"*/*"),
    (b"accept-encoding", b"gzip, deflate, br"),
    (b"referer", b"http://127.0.0.1/blog/post-1"),
    (b"sec-fetch-dest", b"script"),
    (b"sec-fetch-mode", b"no-cors"),
]

# name -> (method, target, headers)
ZONE_REQUESTS: dict[str, tuple[bytes, bytes, list[tuple[bytes, bytes]]]] = {
    "bench 1k browser": (b"GET", b"/1k.bin?id=42&ref=home&utm_source=newsletter", _BROWSER),
    "browser page": (b"GET", b"/blog/2024/05/hello-world", _BROWSER),
    "asset js": (b"GET", b"/static/app.3f2a91.js", _ASSET),
    "asset img": (b"GET", b"/img/logo%402x.png", _with(_ASSET, accept=b"image/avif,*/*")),
    "api post json": (
        b"POST",
        b"/api/v1/orders",
        [
            (b"host", b"127.0.0.1"),
            (b"user-agent", b"shop-app/3.2 (iPhone; iOS 17.4)"),
            (b"accept", b"application/json"),
            (b"content-type", b"application/json"),
            (b"content-length", b"64"),
            (b"authorization", b"Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjMifQ.c2lnbmF0dXJl"),
        ],
    ),
    "search query": (
        b"GET",
        b"/search?q=red+running+shoes&size=42&sort=price%20asc&page=2",
        _BROWSER,
    ),
    "googlebot": (
        b"GET",
        b"/robots.txt",
        [
            (b"host", b"127.0.0.1"),
            (
                b"user-agent",
                b"Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            ),
            (b"accept", b"*/*"),
            (b"accept-encoding", b"gzip, deflate, br"),
        ],
    ),
    "curl": (
        b"GET",
        b"/api/status",
        [(b"host", b"127.0.0.1"), (b"user-agent", b"curl/8.5.0"), (b"accept", b"*/*")],
    ),
    "attack sqli": (
        b"GET",
        b"/products?id=1%27%20union%20select%20username,password%20from%20users--",
        _with(_BROWSER, user_agent=b"sqlmap/1.7.2#stable (https://sqlmap.org)"),
    ),
    "attack traversal": (b"GET", b"/download?file=../../../../etc/passwd", _ASSET),
}


def _zone_ctxs(runtime: Any) -> dict[str, RequestContext]:
    conn = ConnectionInfo("192.0.2.77", 50000, "192.0.2.77", 50000, 80, scheme="http")
    out = {}
    for name, (method, target, headers) in ZONE_REQUESTS.items():
        path, _, query = target.partition(b"?")
        out[name] = RequestContext(
            conn=conn,
            runtime=runtime,
            request_id="z",
            started=0.0,
            method=method,
            target=target,
            path=path,
            query=query,
            headers=list(headers),
            host="127.0.0.1",
            client_ip=conn.client_ip,
            zone=runtime.zones[0],
            content_length=64 if method == b"POST" else None,
        )
    return out


def _runtime(extra_toml: str) -> Any:
    from bench.contenders import shieldwall_toml
    from shieldwall.config.load import parse_config
    from shieldwall.edge.filters.chain import chain_builder
    from shieldwall.edge.services import WorkerServices

    text = shieldwall_toml(port=8080, origin_port=8081, data_dir=Path("/tmp"), access_log="")
    config = parse_config(text + extra_toml)
    return build_runtime(config, 1, chain_builder(WorkerServices()))


def _time_call(f: Callable[[RequestContext], Any], ctx: RequestContext, n: int, r: int) -> float:
    """Median µs of ``f(ctx)`` with the per-request state reset before each call."""
    empty: frozenset[str] = frozenset()

    def loop() -> None:
        for _ in range(n):
            ctx.waf = None
            ctx.security_action = ctx.security_rule = ctx.security_reason = ""
            ctx.security_skip = empty
            f(ctx)

    times = timeit.repeat(loop, number=1, repeat=r)  # includes the reset, ~0.1 µs
    return (min(times) if _STAT == "min" else statistics.median(times)) / n * 1e6


def run_zone_suite(number: int, repeat: int, as_json: bool) -> dict[str, Any]:
    from bench.scenarios.rules import RULE_COUNT, rules_toml
    from shieldwall.edge.filters.firewall import FirewallFilter
    from shieldwall.edge.filters.waf import WafFilter

    plain, rules = _runtime(""), _runtime(rules_toml(RULE_COUNT))
    chain_p = plain.zones[0].chain.request_headers
    chain_r = rules.zones[0].chain.request_headers
    inner = chain_r[0].filters if chain_r and hasattr(chain_r[0], "filters") else chain_r
    fw = next(f for f in inner if isinstance(f, FirewallFilter))
    waf = next(f for f in inner if isinstance(f, WafFilter))

    def run_all(chain: tuple[Any, ...]) -> Callable[[RequestContext], Any]:
        def call(ctx: RequestContext) -> Any:
            for f in chain:
                f(ctx)

        return call

    ctxs_p, ctxs_r = _zone_ctxs(plain), _zone_ctxs(rules)
    cols = ("plain µs", "rules µs", "delta", "fw µs", "waf µs")
    print(f"{'request':18} " + " ".join(f"{c:>9}" for c in cols) + "  outcome")
    rows = {}
    for name in ZONE_REQUESTS:
        cp, cr = ctxs_p[name], ctxs_r[name]
        p_us = _time_call(run_all(chain_p), cp, number, repeat)
        r_us = _time_call(run_all(chain_r), cr, number, repeat)
        fw_us = _time_call(fw, cr, number, repeat)
        waf_us = _time_call(waf, cr, number, repeat)
        cr.waf = None
        cr.security_action = ""
        run_all(chain_r)(cr)
        outcome = cr.security_action or "-"
        if cr.security_rule:
            outcome += f" {cr.security_rule}"
        rows[name] = {"plain": p_us, "rules": r_us, "fw": fw_us, "waf": waf_us, "outcome": outcome}
        print(
            f"{name:18} {p_us:9.2f} {r_us:9.2f} {r_us - p_us:9.2f} {fw_us:9.2f} {waf_us:9.2f}"
            f"  {outcome}"
        )
    med = {
        k: statistics.median(r[k] for r in rows.values()) for k in ("plain", "rules", "fw", "waf")
    }
    mean = {
        k: statistics.fmean(r[k] for r in rows.values()) for k in ("plain", "rules", "fw", "waf")
    }
    for label, agg in (("median", med), ("mean", mean)):
        print(
            f"{label:18} {agg['plain']:9.2f} {agg['rules']:9.2f} {agg['rules'] - agg['plain']:9.2f}"
            f" {agg['fw']:9.2f} {agg['waf']:9.2f}"
        )
    result = {
        "suite": "zone100",
        "rules": RULE_COUNT,
        "requests": {
            k: {m: (round(v, 2) if isinstance(v, float) else v) for m, v in r.items()}
            for k, r in rows.items()
        },
        "median_us": {k: round(v, 2) for k, v in med.items()},
        "mean_us": {k: round(v, 2) for k, v in mean.items()},
    }
    if as_json:
        print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
