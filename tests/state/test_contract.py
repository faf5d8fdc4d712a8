"""One contract for every StateBackend: the same tests against memory and a real redis-server.

Expiry: the memory backend runs on an injected clock that ``advance`` moves; Redis keeps its own
time, so there ``advance`` waits the (short) TTLs out for real.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import pytest

from shieldwall.errors import ConfigError
from shieldwall.state import BACKENDS, MemoryBackend, StateBackend, from_config
from shieldwall.state.base import CounterDelta

from .conftest import RedisServer

TTL = 0.2  # short TTLs so that waiting them out on Redis stays cheap


class Clock:
    def __init__(self) -> None:
        self.t = 1_700_000_000.0

    def __call__(self) -> float:
        return self.t


@dataclass
class Harness:
    backend: StateBackend
    advance: Callable[[float], Awaitable[None]]


@pytest.fixture(params=["memory", "redis"])
async def h(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    if request.param == "memory":
        clock = Clock()

        async def advance_mem(dt: float) -> None:
            clock.t += dt

        backend: StateBackend = MemoryBackend(clock=clock)
        harness = Harness(backend, advance_mem)
    else:
        server: RedisServer = request.getfixturevalue("flushed_redis")
        backend = from_config("redis", {"url": server.url})

        async def advance_redis(dt: float) -> None:
            await asyncio.sleep(dt)

        harness = Harness(backend, advance_redis)
    yield harness
    await backend.aclose()


def test_factory_table() -> None:
    assert set(BACKENDS) == {"memory", "redis"}
    assert isinstance(from_config("memory", {"max_keys": 10}), MemoryBackend)
    with pytest.raises(ConfigError):
        from_config("etcd")
    with pytest.raises(ConfigError):
        from_config("redis", {})
    with pytest.raises(ConfigError):
        from_config("memory", {"no_such_limit": 1})


async def test_implements_protocol(h: Harness) -> None:
    assert isinstance(h.backend, StateBackend)
    assert await h.backend.ping()


async def test_counters_per_window(h: Harness) -> None:
    b = h.backend
    assert await b.get_count("ip:1", 10) == 0
    assert await b.incr("ip:1", 10, 60) == 1
    assert await b.incr("ip:1", 10, 60, 4) == 5
    assert await b.incr("ip:1", 11, 60) == 1
    assert await b.get_count("ip:1", 10) == 5
    assert await b.get_count("ip:2", 10) == 0


async def test_incr_many_returns_totals_in_order(h: Harness) -> None:
    b = h.backend
    await b.incr("a", 1, 60, 3)
    totals = await b.incr_many(
        [CounterDelta("a", 1, 2, 60), CounterDelta("b", 1, 0, 60), CounterDelta("a", 2, 7, 60)]
    )
    assert totals == [5, 0, 7]
    assert await b.incr_many([]) == []


async def test_counter_expires(h: Harness) -> None:
    await h.backend.incr("x", 1, TTL)
    await h.advance(TTL * 1.5)
    assert await h.backend.get_count("x", 1) == 0


async def test_keys_with_ttl(h: Harness) -> None:
    b = h.backend
    assert await b.get("k") is None
    await b.set("k", b"v1", 60)
    assert await b.get("k") == b"v1"
    await b.set("k", b"v2", TTL)
    assert await b.get("k") == b"v2"
    await h.advance(TTL * 1.5)
    assert await b.get("k") is None
    await b.set("d", b"x", 60)
    assert await b.delete("d") is True
    assert await b.delete("d") is False
    long_key = "y" * 10_000  # attacker-length keys are bounded, still distinct
    await b.set(long_key, b"L", 60)
    assert await b.get(long_key) == b"L" and await b.get("y" * 9_999) is None


async def test_bans_ip_and_prefix(h: Harness) -> None:
    b = h.backend
    assert not await b.is_banned("203.0.113.9")
    ban = await b.ban("203.0.113.0/24", 60, "flood")
    assert ban.target == "203.0.113.0/24"
    await b.ban("198.51.100.7", 60)
    await b.ban("2001:db8:1:2::/64", 60, "v6")
    assert await b.is_banned("203.0.113.9")
    assert await b.is_banned("198.51.100.7")
    assert not await b.is_banned("198.51.100.8")
    assert await b.is_banned("2001:db8:1:2::77")
    assert not await b.is_banned("2001:db8:1:3::1")
    assert not await b.is_banned("not an ip")
    targets = [(x.target, x.reason) for x in await b.list_bans()]
    assert targets == [
        ("198.51.100.7/32", ""),
        ("2001:db8:1:2::/64", "v6"),
        ("203.0.113.0/24", "flood"),
    ]
    assert await b.unban("203.0.113.0/24")
    assert not await b.unban("203.0.113.0/24")
    assert not await b.is_banned("203.0.113.9")
    with pytest.raises(ValueError):
        await b.ban("300.1.1.1", 60)


async def test_ban_expires(h: Harness) -> None:
    b = h.backend
    await b.ban("192.0.2.1", TTL, "short")
    await b.ban("192.0.2.2", 60, "long")
    (first, second) = await b.list_bans()
    assert first.until < second.until
    await h.advance(TTL * 1.5)
    assert not await b.is_banned("192.0.2.1")
    assert [x.target for x in await b.list_bans()] == ["192.0.2.2/32"]


async def test_consume_once(h: Harness) -> None:
    b = h.backend
    assert await b.consume_once("tok-1", 60) is True
    assert await b.consume_once("tok-1", 60) is False
    assert await b.consume_once("tok-2", 60) is True
    results = await asyncio.gather(*(b.consume_once("race", 60) for _ in range(20)))
    assert results.count(True) == 1


async def test_pubsub(h: Harness) -> None:
    b = h.backend
    sub = await b.subscribe("bans")
    other = await b.subscribe("config")
    assert await b.publish("bans", b"one") >= 1
    await b.publish("config", b"cfg")
    await b.publish("bans", b"two")
    it = aiter(sub)
    async with asyncio.timeout(5):
        assert await anext(it) == b"one"
        assert await anext(it) == b"two"
        assert await anext(aiter(other)) == b"cfg"
    await sub.aclose()
    await other.aclose()
