"""A zone rate limit enforced fleet-wide by two edge nodes sharing a private Redis, and what
happens when that Redis goes away mid-test and comes back."""

from __future__ import annotations

import logging

import pytest
import redis.asyncio as aioredis
from tests.shield.conftest import FakeClock, request
from tests.shield_redis.conftest import Node, eventually, fleet, redis_config, sync_fleet
from tests.state.conftest import RedisServer
from tests.support.origin import Origin

from shieldwall.config.security import RateLimitRuleConfig, SecurityConfig

LIMIT = 20
PERIOD = 10.0
RULE = SecurityConfig(
    rate_limits=(RateLimitRuleConfig(id="fleet-ip", requests=LIMIT, period=PERIOD),)
)


async def statuses(node: Node, n: int, source: str) -> list[int]:
    return [(await request(node.edge, source=source))[0] for _ in range(n)]


async def fleet_count(redis: RedisServer, clock: FakeClock, ip: str) -> int:
    client = aioredis.Redis.from_url(redis.url)
    try:
        w = int(clock.wall_now() // PERIOD)
        raw = await client.get(f"sw:c:rl:fleet-ip:{ip}:{w}")
        return int(raw or 0)
    finally:
        await client.aclose()


async def test_limit_is_enforced_on_the_fleet_total(
    origin: Origin, redis_server: RedisServer, clock: FakeClock
) -> None:
    """A client alternating between the nodes, 2 requests per node per flush interval (the
    interval's ticks are driven by the test): refused by both nodes once the fleet total passes
    the limit, give or take the documented batching delay (one interval of the other nodes'
    traffic: here at most 2 requests per node)."""
    config = redis_config(origin, redis_server, security=RULE)
    async with fleet(clock, config, config) as (a, b):
        ip = "127.0.0.5"
        admitted = {"a": 0, "b": 0}
        trace: list[int] = []
        for i in range(2 * LIMIT):
            name, node = ("a", a) if i % 2 == 0 else ("b", b)
            status, headers, _ = await request(node.edge, source=ip)
            trace.append(status)
            if status == 200:
                admitted[name] += 1
            else:
                assert status == 429
                assert headers["ratelimit-policy"] == f'"fleet-ip";q={LIMIT};w={int(PERIOD)}'
            if i % 4 == 3:  # one flush interval has passed
                await sync_fleet(a, b)
        total = admitted["a"] + admitted["b"]
        # neither node alone reached the limit, yet the fleet stopped the client near it
        assert max(admitted.values()) < LIMIT
        assert LIMIT <= total <= LIMIT + 4, trace
        assert trace[-8:] == [429] * 8  # refused on both nodes, steadily
        assert await fleet_count(redis_server, clock, ip) == total
        assert sum(1 for r in origin.requests if r.target == "/") == total
        assert (await request(b.edge, source="127.0.0.6"))[0] == 200  # other clients unaffected
        # the window slides on: two periods later the client is admitted again
        clock.advance(2 * PERIOD)
        assert (await request(a.edge, source=ip))[0] == 200


async def test_background_flush_learns_the_other_node_within_one_interval(
    origin: Origin, redis_server: RedisServer, clock: FakeClock
) -> None:
    config = redis_config(origin, redis_server, security=RULE, sync_interval=0.05)
    async with fleet(clock, config, config) as (a, b):
        ip = "127.0.0.7"
        assert await statuses(a, LIMIT, ip) == [200] * LIMIT
        counters_b = b.shield.counters
        assert counters_b is not None
        key = f"rl:fleet-ip:{ip}"
        w = int(clock.wall_now() // PERIOD)
        counters_b.get(key, w)  # B has seen the key: its flushes now learn the fleet's count
        await eventually("B learns A's 20 requests", lambda: counters_b.get(key, w) >= LIMIT)
        assert (await request(b.edge, source=ip))[0] == 429


async def test_redis_outage_local_limits_one_warning_then_resync(
    origin: Origin,
    redis_server: RedisServer,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="shieldwall")
    config = redis_config(origin, redis_server, security=RULE)
    async with fleet(clock, config, config) as (a, b):
        assert await statuses(a, 5, "127.0.0.8") == [200] * 5
        await sync_fleet(a)
        assert a.shield.health.healthy and b.shield.health.healthy

        redis_server.stop()  # Redis goes away mid-test
        await eventually(
            "both nodes notice the outage",
            lambda: not a.shield.health.healthy and not b.shield.health.healthy,
        )
        # both nodes keep serving, and keep enforcing the limit on their local counts
        ip = "127.0.0.9"
        assert await statuses(a, LIMIT, ip) == [200] * LIMIT
        assert (await request(a.edge, source=ip))[0] == 429
        assert await statuses(b, 3, "127.0.0.10") == [200] * 3
        for node in (a, b):
            counters = node.shield.counters
            assert counters is not None
            for _ in range(3):  # retries fail quietly: nothing lost, nothing logged again
                assert await counters.flush_once() is False
        warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(warnings) == 2, [r.getMessage() for r in warnings]  # one per node
        assert all("unreachable" in r.getMessage() for r in warnings)

        redis_server.start()  # it comes back, empty (persistence is off)
        for node in (a, b):
            counters = node.shield.counters
            assert counters is not None
            counters.flush_soon()  # wake each node's own flush task (not a test-side flush)
        await eventually(
            "both nodes resync",
            lambda: a.shield.health.healthy and b.shield.health.healthy,
        )
        # A's outage deltas reached Redis through its background task
        await eventually("A's deltas flushed", lambda: a.shield.counters is not None
                         and a.shield.counters.healthy)  # fmt: skip
        assert await fleet_count(redis_server, clock, ip) == LIMIT
        # and B learns them: its first request for the key decides on what it knew (the
        # documented one-interval delay), its next flush learns the fleet total
        assert (await request(b.edge, source=ip))[0] == 200
        await sync_fleet(b)
        assert (await request(b.edge, source=ip))[0] == 429
        recovered = [r for r in caplog.records if "reachable again" in r.getMessage()]
        assert len(recovered) == 2
        assert len([r for r in caplog.records if r.levelno >= logging.WARNING]) == 2
