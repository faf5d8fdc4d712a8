"""A ban placed on one node (a ``ban`` rate-limit rule) reaches the others through Redis and is
enforced there at accept; a node started later reads it from the backend's ban list."""

from __future__ import annotations

import logging

import pytest
from tests.shield.conftest import FakeClock, request
from tests.shield.test_ratelimit_ban import refused_at_accept
from tests.shield_redis.conftest import DEADLINE, Node, eventually, fleet, redis_config
from tests.state.conftest import RedisServer
from tests.support.origin import Origin

from shieldwall.config.security import RateLimitRuleConfig, SecurityConfig
from shieldwall.edge.bans_ops import lift

BAN_RULE = SecurityConfig(
    rate_limits=(
        RateLimitRuleConfig(
            id="burst", requests=2, period=10.0, action="ban", mitigation_timeout=60.0
        ),
    )
)
PROPAGATION_BOUND = 1.0  # seconds: one publish + one delivery on loopback takes milliseconds


async def ban_on_a_seen_on_b(a: Node, b: Node, ip: str) -> None:
    """``ip`` goes over the ``ban`` rule on A (its third request is dropped and banned at
    once) and B learns the ban within ``PROPAGATION_BOUND``."""
    assert (await request(a.edge, source=ip))[0] == 200
    assert (await request(a.edge, source=ip))[0] == 200
    assert await refused_at_accept(a.edge, ip)
    assert a.services.is_banned(ip)
    took = await eventually("B learns A's ban", lambda: b.services.is_banned(ip))
    assert took < PROPAGATION_BOUND


async def test_ban_on_a_refused_at_accept_on_b_and_on_a_late_node(
    origin: Origin, redis_server: RedisServer, clock: FakeClock
) -> None:
    config = redis_config(origin, redis_server, security=BAN_RULE)
    async with fleet(clock, config, config) as (a, b):
        ip = "127.0.0.20"
        await ban_on_a_seen_on_b(a, b, ip)
        assert await refused_at_accept(b.edge, ip)
        assert b.edge.server.worker.refused >= 1
        assert (await request(b.edge, source="127.0.0.21"))[0] == 200  # others unaffected
        assert sum(1 for r in origin.requests if r.target == "/") == 3
        # a node that joins later reads the ban list at start
        async with fleet(clock, config) as (c,):
            assert c.services.is_banned(ip)
            assert await refused_at_accept(c.edge, ip)
        # the ban ends on B with its duration, on B's own clock
        clock.advance(61.0)
        b.services.expire_bans()
        assert not b.services.is_banned(ip)
        assert (await request(b.edge, source=ip))[0] == 200


async def test_ban_propagation_resumes_after_a_redis_outage(
    origin: Origin,
    redis_server: RedisServer,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="shieldwall")
    config = redis_config(origin, redis_server, security=BAN_RULE)
    async with fleet(clock, config, config) as (a, b):
        redis_server.stop()
        await eventually("outage noticed", lambda: not (a.shield.health.healthy
                                                        or b.shield.health.healthy))  # fmt: skip
        # during the outage a ban holds on the node that placed it (and is queued there)
        ip = "127.0.0.30"
        for _ in range(2):
            assert (await request(a.edge, source=ip))[0] == 200
        assert await refused_at_accept(a.edge, ip)
        assert a.services.is_banned(ip) and not b.services.is_banned(ip)
        redis_server.start()
        await eventually(
            "both fleet links reconnect",
            lambda: (
                a.shield.fleet is not None
                and a.shield.fleet.connected
                and b.shield.fleet is not None
                and b.shield.fleet.connected
            ),
            deadline=DEADLINE + 5.0,  # the links' backoff is at most 5 s
        )
        # the ban placed during the outage is sent on reconnect, and new bans flow again
        await eventually("B learns the outage's ban", lambda: b.services.is_banned(ip))
        assert await refused_at_accept(b.edge, ip)
        ip2 = "127.0.0.31"
        for _ in range(2):
            assert (await request(a.edge, source=ip2))[0] == 200
        assert await refused_at_accept(a.edge, ip2)
        await eventually("B learns the new ban", lambda: b.services.is_banned(ip2))
        assert await refused_at_accept(b.edge, ip2)
        warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert len(warnings) == 2, [r.getMessage() for r in warnings]  # one per node


async def test_an_operator_lift_on_a_reaches_b_and_late_nodes(
    origin: Origin, redis_server: RedisServer, clock: FakeClock
) -> None:
    config = redis_config(origin, redis_server, security=BAN_RULE)
    async with fleet(clock, config, config) as (a, b):
        ip = "127.0.0.22"
        await ban_on_a_seen_on_b(a, b, ip)
        assert await lift(a.services, {"target": ip}) == {"lifted": True}
        assert not a.services.is_banned(ip)
        took = await eventually("B lifts it", lambda: not b.services.is_banned(ip))
        assert took < PROPAGATION_BOUND
        assert b.services.shield.fleet is not None and b.services.shield.fleet.bans_lifted == 1
        assert (await request(b.edge, source=ip))[0] == 200
        async with fleet(clock, config) as (c,):  # the shared list no longer has it
            assert not c.services.is_banned(ip)
