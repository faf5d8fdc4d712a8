"""The local counter cache and its batched sync, against memory and a private redis-server
that the outage test kills mid-test and restarts."""

from __future__ import annotations

import asyncio
import logging

import pytest

from shieldwall.config.model import Config
from shieldwall.edge.context import ConnectionInfo, RequestContext
from shieldwall.edge.decision import CONTINUE, Block
from shieldwall.edge.runtime import build_runtime
from shieldwall.ratelimit.filter import build_filter
from shieldwall.ratelimit.rules import RateLimitRule
from shieldwall.state import MemoryBackend, RedisBackend
from shieldwall.state.sync import SyncedCounters, SyncLimits

from .conftest import RedisServer

W = 100  # a window id
_RUNTIME = build_runtime(Config(), 1)


def make_ctx(ip: str = "192.0.2.7") -> RequestContext:
    conn = ConnectionInfo(ip, 1, ip, 1, 80)
    return RequestContext(conn=conn, runtime=_RUNTIME, request_id="r", started=0.0, client_ip=ip)


async def test_local_answers_are_immediate_and_fleet_totals_merge() -> None:
    shared = MemoryBackend()
    a, b = SyncedCounters(shared), SyncedCounters(shared)
    assert [a.add("k", W, 60) for _ in range(5)][-1] == 5
    assert b.add("k", W, 60, 3) == 3
    assert await a.flush_once() and await b.flush_once()
    assert b.get("k", W) == 8  # b learned a's 5 when flushing its own 3
    assert a.get("k", W) == 5  # a flushed first; it learns b's share on its next flush
    assert await a.flush_once()
    assert a.get("k", W) == 8
    a.add("k", W, 60)
    assert a.get("k", W) == 9 and await shared.get_count("k", W) == 8  # not flushed yet


async def test_bounded_and_expiring() -> None:
    clock_t = [1000.0]
    s = SyncedCounters(MemoryBackend(), SyncLimits(max_keys=10), clock=lambda: clock_t[0])
    for i in range(25):
        s.add(f"ip{i}", W, 60)
    assert len(s) == 10 and s.dropped == 15
    clock_t[0] += 61
    s.add("new", W, 60)
    assert len(s) == 1  # the rest expired


async def test_redis_outage_keeps_local_decisions_then_resyncs(
    private_redis: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="shieldwall.state.sync")
    backend_a = RedisBackend.from_url(private_redis.url, socket_timeout=1.0)
    backend_b = RedisBackend.from_url(private_redis.url, socket_timeout=1.0)
    a, b = SyncedCounters(backend_a), SyncedCounters(backend_b)
    try:
        a.add("rl:k", W, 60, 4)
        b.add("rl:k", W, 60, 2)
        assert await a.flush_once() and await b.flush_once()
        assert a.get("rl:k", W) == 4  # a used the key: its next flush learns b's share
        assert await a.flush_once()
        assert a.get("rl:k", W) == 6 and b.get("rl:k", W) == 6

        private_redis.stop()  # Redis goes away mid-test
        for _ in range(3):
            a.add("rl:k", W, 60)
        assert a.get("rl:k", W) == 9  # still deciding, on local counts
        for _ in range(4):
            assert await a.flush_once() is False
        assert not a.healthy and a.failures == 4
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1  # logged once for the outage, not per attempt
        assert a.get("rl:k", W) == 9  # failed batches were put back, not lost or doubled

        private_redis.start()  # it comes back (empty: persistence is off)
        assert await a.flush_once() is True
        assert a.healthy
        assert any("reachable again" in r.getMessage() for r in caplog.records)
        assert await backend_a.get_count("rl:k", W) == 3  # the outage's deltas arrived
        assert a.get("rl:k", W) == 3
    finally:
        await backend_a.aclose()
        await backend_b.aclose()


async def test_background_task_flushes_and_limiter_uses_fleet_counts(
    private_redis: RedisServer,
) -> None:
    backend = RedisBackend.from_url(private_redis.url)
    now = [1_000_000.0]
    try:
        async with SyncedCounters(backend, SyncLimits(interval=0.05)) as counters:
            f = build_filter([RateLimitRule("fleet", 3, 60.0)], lambda: now[0], shared=counters)
            # another node already counted 3 for this client in this window
            w = int(now[0] // 60.0)
            await backend.incr("rl:fleet:192.0.2.7", w, 120, 3)
            counters.get("rl:fleet:192.0.2.7", w)  # mark as read: the next flush merges it
            start = counters.flushes
            counters.flush_soon()
            async with asyncio.timeout(5):
                while counters.flushes <= start:
                    await asyncio.sleep(0.01)
            assert isinstance(f(make_ctx()), Block)
            assert f(make_ctx(ip="192.0.2.99")) is CONTINUE
        assert await backend.get_count("rl:fleet:192.0.2.99", w) == 1  # flushed on exit
    finally:
        await backend.aclose()
