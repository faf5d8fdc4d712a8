"""Per-request cost of ``RequestMetrics.record`` (not collected by pytest).

    python -m tests.observability.bench_metrics

Prints the net cost per request (loop overhead subtracted) for: one hot client/path (the
common case), and a flood of distinct IPs/paths (every top-N sample is a new key), with the
default sampling and with top-N sampling disabled (counters + histogram only).
"""

from __future__ import annotations

import time

from tests.observability._metrics_support import request, zone

from shieldwall.observability.metrics import RequestMetrics

N = 200_000
INTERVAL = 20_000  # requests per shipping interval (take_delta), i.e. 20k req/s per worker


def _run(distinct: bool, **kw: int) -> float:
    z = zone("bench")
    ctxs = [
        request(z, ip=f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}" if distinct else "10.0.0.1",
                path=b"/p/%d" % i if distinct else b"/index.html", cache="HIT",
                ua=b"Mozilla/5.0 (X11; Linux x86_64)")
        for i in range(N)
    ]  # fmt: skip
    best = float("inf")
    for _ in range(3):
        m = RequestMetrics(clock=time.monotonic, wall_clock=time.time, **kw)  # type: ignore[arg-type]
        rec = m.record
        t0 = time.perf_counter()
        for j in range(0, N, INTERVAL):
            for c in ctxs[j : j + INTERVAL]:
                rec(c)
            m.take_delta(0)
        t1 = time.perf_counter()
        for j in range(0, N, INTERVAL):
            for _c in ctxs[j : j + INTERVAL]:
                pass
        base = time.perf_counter() - t1
        best = min(best, (t1 - t0 - base) / N * 1e6)
    return best


if __name__ == "__main__":
    for distinct in (False, True):
        label = "distinct IPs/paths" if distinct else "one client/path   "
        print(
            f"{label}  default: {_run(distinct):.3f} us/request   "
            f"counters only: {_run(distinct, exact_per_interval=0, sample_every=10**9):.3f} us"
        )
