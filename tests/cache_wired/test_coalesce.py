"""Concurrent misses collapse into one origin fetch; uncacheable answers release the waiters;
a cache-busting flood with ``ignore_query`` reaches the origin at most once per key."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

from tests.cache_wired.conftest import cfg, until, wired
from tests.support.edge import read_response
from tests.support.origin import Origin, OriginResponse, ReceivedRequest

from shieldwall.config.cache import CacheKeyConfig, ZoneCacheConfig

N = 300


async def test_hundreds_of_concurrent_misses_fetch_once(tmp_path: Path) -> None:
    gate = asyncio.Event()

    async def slow(req: ReceivedRequest) -> OriginResponse:
        await gate.wait()
        return OriginResponse(
            headers=[("Cache-Control", "max-age=60"), ("Content-Type", "text/javascript")],
            body=b"shared" * 100,
        )

    async with Origin(slow) as origin, wired(cfg(tmp_path, origin.port)) as e:
        conns = [await e.connect() for _ in range(N)]
        for _, w in conns:
            w.write(b"GET /hot.js HTTP/1.1\r\nhost: example.com\r\n\r\n")
        await until(lambda: len(origin.requests) == 1)
        await until(lambda: len(e.server.worker.connections) == N)
        await asyncio.sleep(0.1)  # their heads are read right after the accept
        gate.set()
        results = await asyncio.gather(*(read_response(r) for r, _ in conns))
        assert all(s == 200 and b == b"shared" * 100 for s, _, b in results)
        statuses = sorted(h["sw-cache"] for _, h, _ in results)
        assert statuses.count("MISS") == 1 and statuses.count("HIT") == N - 1
        collapsed = [h for _, h, _ in results if "collapsed" in h["cache-status"]]
        assert len(collapsed) == N - 1
        assert len(origin.requests) == 1  # counted at the origin


async def test_uncacheable_answer_releases_waiters_without_stampede(tmp_path: Path) -> None:
    gate = asyncio.Event()
    in_flight = 0
    peak = 0

    async def dynamic(req: ReceivedRequest) -> OriginResponse:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await gate.wait()
        in_flight -= 1
        return OriginResponse(headers=[("Cache-Control", "no-store")], body=b"private")

    async with Origin(dynamic) as origin, wired(cfg(tmp_path, origin.port)) as e:
        conns = [await e.connect() for _ in range(50)]
        for _, w in conns:
            w.write(b"GET /me HTTP/1.1\r\nhost: example.com\r\n\r\n")
        await asyncio.sleep(0.2)
        assert len(origin.requests) == 1  # the others wait for the leader's verdict
        gate.set()
        results = await asyncio.gather(*(read_response(r) for r, _ in conns))
        assert all(s == 200 and b == b"private" for s, _, b in results)
        assert len(origin.requests) == 50  # released: each forwarded on its own
        # later requests go straight to the origin (hit-for-miss), concurrently
        gate.clear()
        conns = [await e.connect() for _ in range(10)]
        for _, w in conns:
            w.write(b"GET /me HTTP/1.1\r\nhost: example.com\r\n\r\n")
        for _ in range(200):
            if len(origin.requests) == 60:
                break
            await asyncio.sleep(0.01)
        assert len(origin.requests) == 60 and peak >= 10
        gate.set()
        results = await asyncio.gather(*(read_response(r) for r, _ in conns))
        assert {h["sw-cache"] for _, h, _ in results} == {"DYNAMIC"}


async def test_random_query_flood_with_ignore_query(tmp_path: Path) -> None:
    zc = ZoneCacheConfig(key=CacheKeyConfig(ignore_query=True))

    def origin_fn(req: ReceivedRequest) -> OriginResponse:
        return OriginResponse(headers=[("Cache-Control", "max-age=600")], body=b"x" * 1024)

    async with Origin(origin_fn) as origin, wired(cfg(tmp_path, origin.port, cache=zc)) as e:
        reader, writer = await e.connect()
        for _ in range(500):
            q = f"{random.getrandbits(64):x}"
            writer.write(f"GET /1k.bin?r={q} HTTP/1.1\r\nhost: example.com\r\n\r\n".encode())
            status, _, body = await read_response(reader)
            assert (status, len(body)) == (200, 1024)
        assert len(origin.requests) == 1
