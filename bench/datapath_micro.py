"""In-process cost of the data path's own Python work per request: no sockets, no syscalls.

The wrk scenarios measure everything (syscalls, the event loop, the kernel's loopback); on two
shared cores their per-request CPU moves by several percent between runs. This drives the real
``ClientConnection`` (the same runtime, filters, cache, balancer, pool and metrics as a worker)
with transports that only count bytes, and an origin connection whose response is fed back
synchronously, so the figure is the Python work alone and repeats to within a few percent.

    python -m bench.datapath_micro [--n 200000] [--profile]

Scenarios: ``proxy`` (1 KB pass-through, cache off, wrk-like head), ``proxy_browser`` (the same
with 11 browser-like headers), ``proxy_varied`` (a new query string per request), ``hit``
(1 KB cache hit, default cache settings with ignore_query), ``429`` (every request over a
per-IP rate limit). Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import pstats
import statistics
import tempfile
import time
from collections.abc import Callable
from email.utils import formatdate
from pathlib import Path
from typing import Any

import uvloop

from shieldwall.config.load import parse_config
from shieldwall.edge.connection import ClientConnection
from shieldwall.edge.filters.chain import chain_builder
from shieldwall.edge.runtime import RuntimeHolder, build_runtime
from shieldwall.edge.server import EdgeServer
from shieldwall.edge.services import WorkerServices
from shieldwall.edge.upstream.pool import origin_key
from shieldwall.edge.upstream.protocol import UpstreamConnection
from shieldwall.observability.metrics import MetricsRegistry, RequestMetrics

__all__ = ["main"]

ORIGIN_PORT = 9  # never connected: the pool always holds the fake origin connection
BODY = (b"shieldwall-bench" * 64)[:1024]
RESPONSE = (  # Date is now: the cache scenario stores it fresh
    b"HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: %s\r\n"
    % formatdate(usegmt=True).encode()
    + b"Content-Type: application/octet-stream\r\nContent-Length: 1024\r\n"
    b"Last-Modified: Sat, 21 Nov 2026 09:00:00 GMT\r\nConnection: keep-alive\r\n"
    b'ETag: "6720c2e0-400"\r\nCache-Control: max-age=600\r\nAccept-Ranges: bytes\r\n\r\n' + BODY
)
WRK_HEAD = b"GET /1k.bin HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n"
BROWSER_HEAD = (
    b"GET /1k.bin HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    b"Chrome/120.0 Safari/537.36\r\n"
    b"Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
    b"Accept-Language: en-US,en;q=0.9\r\nAccept-Encoding: gzip, deflate, br\r\n"
    b"Cookie: session=4f2a9c1e8b7d6a5f; theme=dark; consent=yes\r\n"
    b"Referer: http://127.0.0.1:8080/index.html\r\nSec-Fetch-Dest: document\r\n"
    b"Sec-Fetch-Mode: navigate\r\nSec-Fetch-Site: same-origin\r\nSec-Fetch-User: ?1\r\n"
    b"Upgrade-Insecure-Requests: 1\r\n\r\n"
)


class CountingTransport:
    """Enough of ``asyncio.Transport`` for the data path; writes are counted, not sent."""

    def __init__(self, peer: tuple[str, int]) -> None:
        self.peer = peer
        self.written = 0
        self.closed = False

    def write(self, data: bytes | memoryview) -> None:
        self.written += len(data)

    def writelines(self, parts: Any) -> None:
        for p in parts:
            self.written += len(p)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "peername":
            return self.peer
        if name == "sockname":
            return ("127.0.0.1", 8080)
        return default

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        return None

    def get_write_buffer_size(self) -> int:
        return 0

    def pause_reading(self) -> None:
        return None

    def resume_reading(self) -> None:
        return None

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        return None


RATE_LIMIT = '\n[[zones.security.rate_limits]]\nid = "per-ip"\nrequests = 1\nperiod = "1m"\n'


def _config(cache: bool, data_dir: Path, extra: str = "") -> str:
    return (
        f'workers = 1\ndata_dir = "{data_dir}"\nlog_level = "warning"\n\n'
        '[access_log]\npath = ""\n\n'
        '[[listeners]]\naddress = "127.0.0.1"\nport = 8080\n\n'
        '[[zones]]\nname = "bench"\nhosts = ["127.0.0.1", "localhost"]\n\n'
        f'[[zones.origins]]\nhost = "127.0.0.1"\nport = {ORIGIN_PORT}\n\n'
        + (
            "[zones.cache.key]\nignore_query = true\n"
            if cache
            else "[zones.cache]\nenabled = false\n"
        )
        + extra
    )


class Rig:
    """One worker's data path with a client connection and a pooled fake origin connection."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, cache: bool, tmp: Path, extra: str = ""
    ) -> None:
        config = parse_config(_config(cache, tmp, extra))
        services = WorkerServices()
        runtime = build_runtime(config, 1, chain_builder(services))
        holder = RuntimeHolder(runtime)
        metrics = RequestMetrics(
            clock=loop.time,
            wall_clock=services.wall_clock,
            geo=None,
            registry=MetricsRegistry(),
        )
        sink = _Sink(metrics.record)
        self.server = EdgeServer(holder, access_log=sink, services=services)
        loop.run_until_complete(self.server.start([]))  # the worker, its cache stores
        self.worker = self.server.worker
        listener = config.listeners[0]
        self.conn = ClientConnection(self.worker, listener)
        self.client = CountingTransport(("127.0.0.1", 40000))
        self.conn.connection_made(self.client)  # type: ignore[arg-type]
        zone = runtime.zones[0]
        origin = zone.config.origins[0]
        self.up = UpstreamConnection(origin_key(origin), self.worker.pool.reads)
        self.up_transport = CountingTransport(("127.0.0.1", ORIGIN_PORT))
        self.up.connection_made(self.up_transport)  # type: ignore[arg-type]
        self.worker.pool.release(self.up, zone.config.limits)

    def request(self, head: bytes) -> None:
        self.conn.data_received(head)
        if self.conn.upstream is not None:  # went to the origin: answer it (as uvloop does)
            up = self.up
            up.get_buffer(-1)[: len(RESPONSE)] = RESPONSE
            up.buffer_updated(len(RESPONSE))


class _Sink:
    def __init__(self, record: Callable[[Any], None]) -> None:
        self.log = record


def _heads(kind: str, n: int) -> list[bytes]:
    if kind == "proxy_varied":
        return [b"GET /1k.bin?v=%d HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n" % i for i in range(n)]
    if kind in ("hit_varied", "rules_varied"):  # bench rules' varied load
        rest = BROWSER_HEAD.partition(b"\r\n")[2]
        return [b"GET %s%d HTTP/1.1\r\n%s" % (RULES_PATH, i, rest) for i in range(n)]
    head = BROWSER_HEAD if kind == "proxy_browser" else WRK_HEAD
    return [head] * n


SCENARIOS = {
    "proxy": False,
    "proxy_browser": False,
    "proxy_varied": False,
    "hit": True,
    "429": False,  # every request over a 1/min per-IP rate limit
    "hit_varied": True,  # browser head, a new query per request: bench rules' plain zone
    "rules_varied": True,  # the same through 100 custom rules + the WAF at paranoia 1
}
RULES_PATH = b"/1k.bin?id=42&ref=home&utm_source=newsletter&n="


def _extra(kind: str) -> str:
    if kind == "429":
        return RATE_LIMIT
    if kind == "rules_varied":
        from bench.scenarios.rules import rules_toml

        return rules_toml(100)
    return ""


def run(kind: str, n: int, rounds: int, profile: bool) -> dict[str, Any]:
    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        with tempfile.TemporaryDirectory(prefix="sw-micro-", ignore_cleanup_errors=True) as d:
            rig = Rig(loop, SCENARIOS[kind], Path(d), _extra(kind))
            return loop.run_until_complete(_measure(rig, _heads(kind, n), rounds, profile))
    finally:
        loop.close()


async def _measure(rig: Rig, heads: list[bytes], rounds: int, profile: bool) -> dict[str, Any]:
    """Inside the running loop (the cache's coalescing futures need one)."""
    n = len(heads)
    for h in heads[:2000]:  # warm: pool, memos, the cache's hot entry (a miss may wait on disk)
        rig.request(h)
        for _ in range(3):
            await asyncio.sleep(0)
    before = rig.client.written
    rig.request(heads[0])
    if rig.client.written == before or rig.conn.ctx is not None:
        raise RuntimeError("the request was not answered synchronously")
    per_req = []
    for _ in range(rounds):
        t0 = time.perf_counter_ns()
        for h in heads:
            rig.request(h)
        per_req.append((time.perf_counter_ns() - t0) / n / 1000)
    prof_top: list[str] = []
    if profile:
        pr = cProfile.Profile()
        pr.enable()
        for h in heads:
            rig.request(h)
        pr.disable()
        stats: Any = pstats.Stats(pr)
        rows = sorted(stats.stats.items(), key=lambda kv: -kv[1][2])[:25]
        for (file, line, fn), (_cc, nc, tt, ct, _) in rows:
            prof_top.append(
                f"{tt / n * 1e6:7.3f} us self {ct / n * 1e6:7.3f} us incl {nc / n:5.2f}/req  "
                f"{fn} ({Path(file).name}:{line})"
            )
    return {
        "us_per_req": round(statistics.median(per_req), 3),
        "rounds": per_req,
        "profile": prof_top,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.datapath_micro")
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--only", default=",".join(SCENARIOS))
    ap.add_argument("--profile", action="store_true", help="cProfile one more round per scenario")
    args = ap.parse_args(argv)
    out: dict[str, Any] = {}
    for kind in [k.strip() for k in args.only.split(",") if k.strip()]:
        res = run(kind, args.n, args.rounds, args.profile)
        out[kind] = res["us_per_req"]
        best = min(res["rounds"])
        print(
            f"{kind:14s} {res['us_per_req']:7.3f} us/req"
            f" (median of {args.rounds}; best {best:.3f})",
            flush=True,
        )
        for line in res["profile"]:
            print("   ", line)
    print(json.dumps({"scenario": "datapath_micro", "us_per_req": out}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
