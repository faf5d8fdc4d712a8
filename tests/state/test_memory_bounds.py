"""The memory backend's bounds: every map has a maximum size and an eviction rule."""

from __future__ import annotations

import asyncio

from shieldwall.state.memory import MemoryBackend, MemoryLimits


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


async def test_counters_and_keys_are_bounded() -> None:
    b = MemoryBackend(MemoryLimits(max_counters=100, max_keys=10))
    for i in range(1000):
        await b.incr(f"ip{i}", 1, 60)
        await b.set(f"k{i}", b"v", 60)
    assert len(b._counters) == 100 and len(b._kv) == 10
    assert await b.get_count("ip999", 1) == 1 and await b.get_count("ip0", 1) == 0


async def test_tokens_fail_closed_when_full_of_live_records() -> None:
    clock = Clock()
    b = MemoryBackend(MemoryLimits(max_tokens=3), clock=clock)
    assert all([await b.consume_once(f"t{i}", 10) for i in range(3)])
    assert await b.consume_once("t3", 10) is False  # full: refuse rather than forget t0
    assert await b.consume_once("t0", 10) is False  # and t0 is still remembered
    clock.t += 11  # the records expire: room again
    assert await b.consume_once("t3", 10) is True


async def test_bans_bounded_drop_soonest_ending() -> None:
    clock = Clock()
    b = MemoryBackend(MemoryLimits(max_bans=2), clock=clock)
    await b.ban("10.0.0.1", 5)
    await b.ban("10.0.0.2", 50)
    await b.ban("10.0.0.3", 50)
    assert [x.target for x in await b.list_bans()] == ["10.0.0.2/32", "10.0.0.3/32"]


async def test_slow_subscriber_drops_oldest() -> None:
    b = MemoryBackend(MemoryLimits(subscriber_queue=2))
    sub = await b.subscribe("c")
    for m in (b"1", b"2", b"3"):
        await b.publish("c", m)
    it = aiter(sub)
    async with asyncio.timeout(1):
        assert [await anext(it), await anext(it)] == [b"2", b"3"]
    assert sub.dropped == 1
    await sub.aclose()
    assert await b.publish("c", b"x") == 0
