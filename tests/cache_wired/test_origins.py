"""Origin protection: always online, branded 502, failover, passive and active health,
per-origin caps with a queue, 503 + Retry-After."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

from tests.cache_wired.conftest import Clock, cfg, services, until, wired
from tests.support.origin import Origin, OriginResponse, ReceivedRequest

from shieldwall.config.cache import HealthCheckConfig, LoadBalancingConfig, ZoneCacheConfig
from shieldwall.config.model import ZoneLimits


def _dead_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now: connects are refused
    return port


def cacheable(req: ReceivedRequest) -> OriginResponse:
    return OriginResponse(
        headers=[("Cache-Control", "max-age=10")], body=b"copy " + req.target.encode()
    )


async def test_origin_down_serves_stale_and_branded_502(tmp_path: Path) -> None:
    clock = Clock()
    origin = await Origin(cacheable).start()
    async with wired(cfg(tmp_path, origin.port), services(clock)) as e:
        assert (await e.fetch("/a"))[2] == b"copy /a"
        await origin.close()
        clock.now += 3600  # long expired, within max_stale
        status, h, body = await e.fetch("/a")
        assert (status, body, h["sw-cache"]) == (200, b"copy /a", "STALE")
        status, h, body = await e.fetch("/never-cached")
        assert status == 502 and b"shieldwall" in body.lower()
        assert "sw-request-id" in h or any("request" in k for k in h)


async def test_origin_5xx_serves_stale(tmp_path: Path) -> None:
    clock = Clock()
    broken = [False]

    def origin_fn(req: ReceivedRequest) -> OriginResponse:
        if broken[0]:
            return OriginResponse(500, body=b"boom")
        return cacheable(req)

    async with Origin(origin_fn) as origin, wired(cfg(tmp_path, origin.port), services(clock)) as e:
        await e.fetch("/a")
        broken[0] = True
        clock.now += 60
        status, h, body = await e.fetch("/a")
        assert (status, body, h["sw-cache"]) == (200, b"copy /a", "STALE")
        off = ZoneCacheConfig(always_online=False)
    async with (
        Origin(origin_fn) as origin,
        wired(cfg(tmp_path, origin.port, cache=off), services(clock)) as e,
    ):
        broken[0] = False
        await e.fetch("/b")
        broken[0] = True
        clock.now += 60
        status, h, body = await e.fetch("/b")
        assert (status, body) == (500, b"boom")


async def test_failover_to_next_origin_and_passive_ejection(tmp_path: Path) -> None:
    dead = _dead_port()
    lb = LoadBalancingConfig(passive_failures=1, passive_down_time=60.0, retries=1)
    async with Origin() as good, wired(cfg(tmp_path, [dead, good.port], lb=lb)) as e:
        for _ in range(6):
            status, _, body = await e.fetch("/dyn")
            assert (status, body) == (200, b"ok")
        assert len(good.requests) == 6
        states = e.services.cache.origins
        zone = e.server.holder.current.zones[0]
        dead_state = states.get("test", zone.origins[0])
        assert dead_state.down_until > 0  # ejected after its failure
        assert dead_state.requests == 1  # and skipped afterwards


async def test_post_is_not_retried_on_another_origin(tmp_path: Path) -> None:
    dead = _dead_port()
    lb = LoadBalancingConfig(method="round_robin", retries=1)
    async with Origin() as good, wired(cfg(tmp_path, [dead, good.port], lb=lb)) as e:
        codes = [(await e.fetch("/f", method="POST", content_length="0"))[0] for _ in range(2)]
        assert sorted(codes) == [200, 502]


async def test_health_checks_eject_and_readmit(tmp_path: Path) -> None:
    healthy = [True]

    def origin_fn(req: ReceivedRequest) -> OriginResponse:
        if req.target == "/health":
            return OriginResponse(200 if healthy[0] else 500, body=b"h")
        return OriginResponse(body=b"A")

    check = HealthCheckConfig(
        enabled=True, path="/health", interval=0.05, timeout=0.05, healthy_threshold=1,
        unhealthy_threshold=1,
    )  # fmt: skip
    lb = LoadBalancingConfig(health_check=check)
    async with (
        Origin(origin_fn) as a,
        Origin(lambda r: OriginResponse(body=b"B")) as b,
        wired(cfg(tmp_path, [a.port, b.port], lb=lb)) as e,
    ):
        zone = e.server.holder.current.zones[0]
        state = e.services.cache.origins.get("test", zone.origins[0])
        bodies = {(await e.fetch("/x"))[2] for _ in range(4)}
        assert bodies == {b"A", b"B"}
        healthy[0] = False
        for _ in range(100):
            if not state.healthy:
                break
            await asyncio.sleep(0.02)
        assert not state.healthy
        assert {(await e.fetch("/x"))[2] for _ in range(6)} == {b"B"}
        healthy[0] = True
        for _ in range(100):
            if state.healthy:
                break
            await asyncio.sleep(0.02)
        assert state.healthy
        assert {(await e.fetch("/x"))[2] for _ in range(4)} == {b"A", b"B"}


async def test_per_origin_cap_queues_then_503_with_retry_after(tmp_path: Path) -> None:
    gate = asyncio.Event()

    async def slow(req: ReceivedRequest) -> OriginResponse:
        await gate.wait()
        return OriginResponse(body=b"done")

    lb = LoadBalancingConfig(
        max_requests_per_origin=2, queue_size=2, queue_timeout=0.3, retry_after=7
    )
    async with Origin(slow) as origin, wired(cfg(tmp_path, origin.port, lb=lb)) as e:
        tasks = [asyncio.create_task(e.fetch(f"/p{i}")) for i in range(6)]
        # two forwarded, two queued (0.3 s), two refused at once (the queue is full)
        await until(lambda: len(origin.requests) == 2 and sum(t.done() for t in tasks) >= 2)
        assert len(origin.requests) == 2  # the cap holds
        done = [t for t in tasks if t.done()]
        for t in done:
            status, h, _ = t.result()
            assert (status, h["retry-after"]) == (503, "7")
        await until(lambda: sum(t.done() for t in tasks) == 4)  # the queued ones time out too
        gate.set()
        results = [await t for t in tasks]
        assert sorted(s for s, _, _ in results) == [200, 200, 503, 503, 503, 503]
        assert len(origin.requests) == 2


async def test_queued_request_gets_the_freed_slot(tmp_path: Path) -> None:
    gate = asyncio.Event()

    async def slow(req: ReceivedRequest) -> OriginResponse:
        await gate.wait()
        return OriginResponse(body=b"done")

    lb = LoadBalancingConfig(max_requests_per_origin=1, queue_timeout=5.0)
    async with Origin(slow) as origin, wired(cfg(tmp_path, origin.port, lb=lb)) as e:
        tasks = [asyncio.create_task(e.fetch(f"/q{i}")) for i in range(3)]
        await until(lambda: len(e.server.worker.connections) == 3)
        await asyncio.sleep(0.05)
        assert len(origin.requests) == 1
        gate.set()
        results = [await t for t in tasks]
        assert [s for s, _, _ in results] == [200, 200, 200]
        assert len(origin.requests) == 3


async def test_read_timeout_serves_stale(tmp_path: Path) -> None:
    clock = Clock()
    slow = [False]

    async def origin_fn(req: ReceivedRequest) -> OriginResponse:
        if slow[0]:
            await asyncio.sleep(5)
        return cacheable(req)

    zl = ZoneLimits(read_timeout=0.3)
    async with (
        Origin(origin_fn) as origin,
        wired(cfg(tmp_path, origin.port, zone_limits=zl), services(clock)) as e,
    ):
        await e.fetch("/t")
        slow[0] = True
        clock.now += 60
        status, h, body = await e.fetch("/t")
        assert (status, body, h["sw-cache"]) == (200, b"copy /t", "STALE")
