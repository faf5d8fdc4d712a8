"""Microbenchmark: per-evaluation cost of compiled rules, codegen vs closures backend.

Run: ``python bench/rules_micro.py [--number N] [--repeat R]``. Evaluates each expression
against one browser-like ``RequestContext`` (11 headers, query, cookies) and prints the median
ns per evaluation for each backend. Bounded: N x R evaluations per expression and backend.
"""

from __future__ import annotations

import argparse
import statistics
import timeit

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
    ap.add_argument("--number", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
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


if __name__ == "__main__":
    main()
