"""Microbenchmark of the shield's refusal path, in-process (no sockets).

``python -m bench.shield_micro [--number N] [--repeat R] [--json]``: builds the zone of
``python -m bench ratelimit`` (one rule, 1 request per minute per IP, ``block``) and of
``python -m bench attack`` (edge-wide per-IP cap, ``ban``) from the same TOML through the
production chain builder, sends one request per source address to go over the limit, then
times the zone's whole ``request_headers`` chain (what the data path calls: ``run_chain``) on
a request that is refused, as wrk sends it (``Host`` only). Per-request state the filters
write is reset before each call, as the data path starts every request with a new context.
Prints the median µs per call. Bounded: N x R calls per variant.
"""

from __future__ import annotations

import argparse
import json
import statistics
import timeit
from pathlib import Path
from typing import Any

from shieldwall.edge.context import ConnectionInfo, RequestContext
from shieldwall.edge.decision import Continue
from shieldwall.edge.pipeline import run_chain
from shieldwall.edge.runtime import build_runtime

HEADERS = [(b"host", b"127.0.0.1:8080")]
MAX_CALLS = 10_000_000


def _runtime(extra_toml: str) -> Any:
    from bench.contenders import shieldwall_toml
    from shieldwall.config.load import parse_config
    from shieldwall.edge.filters.chain import chain_builder
    from shieldwall.edge.services import WorkerServices

    text = shieldwall_toml(port=8080, origin_port=8081, data_dir=Path("/tmp"), access_log="")
    config = parse_config(text + extra_toml)
    return build_runtime(config, 1, chain_builder(WorkerServices()))


def _ctx(runtime: Any, conn: ConnectionInfo) -> RequestContext:
    return RequestContext(
        conn=conn,
        runtime=runtime,
        request_id="0123456789abcdef",
        started=0.0,
        method=b"GET",
        target=b"/1k.bin",
        path=b"/1k.bin",
        headers=list(HEADERS),
        host="127.0.0.1",
        client_ip=conn.client_ip,
        zone=runtime.zones[0],
    )


def time_refusal(extra_toml: str, number: int, repeat: int) -> tuple[float, str]:
    """Median µs of the zone's request_headers chain on a refused request, and its outcome."""
    rt = _runtime(extra_toml)
    chain = rt.zones[0].chain.request_headers
    conn = ConnectionInfo("192.0.2.77", 50000, "192.0.2.77", 50000, 80, scheme="http")
    outcome = ""
    for _ in range(100):  # go over the limit (and past the first, banning, refusal)
        d = run_chain(chain, _ctx(rt, conn))
        outcome = "continue" if isinstance(d, Continue) else repr(d)[:60]
    ctx = _ctx(rt, conn)
    empty: frozenset[str] = frozenset()

    def loop() -> None:
        c = ctx
        for _ in range(number):
            c.security_action = c.security_rule = c.security_reason = ""
            c.security_skip = empty
            run_chain(chain, c)

    times = timeit.repeat(loop, number=1, repeat=repeat)
    return statistics.median(times) / number * 1e6, outcome


def main() -> None:
    from bench.scenarios.attack import SHIELDWALL_TOML as ATTACK
    from bench.scenarios.ratelimit import SHIELDWALL_TOML as RATELIMIT

    ap = argparse.ArgumentParser()
    ap.add_argument("--number", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    if a.number * a.repeat > MAX_CALLS:
        raise SystemExit(f"--number x --repeat is capped at {MAX_CALLS:,}")
    out = {}
    attack = ATTACK.format(requests=10, period="2s")
    for name, toml in (("ratelimit_429", RATELIMIT), ("attack_ban", attack)):
        us, outcome = time_refusal(toml, a.number, a.repeat)
        out[name] = {"us": round(us, 2), "outcome": outcome}
        print(f"{name:16} {us:7.2f} µs/request   {outcome}")
    if a.json:
        print(json.dumps(out))


if __name__ == "__main__":
    main()
