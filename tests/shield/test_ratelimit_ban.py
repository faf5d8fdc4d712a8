"""Rate limits and bans through a real EdgeServer and origin, with an injected clock."""

from __future__ import annotations

import asyncio
import json

from tests.shield.conftest import SECRET, FakeClock, request, shield_config, shield_edge
from tests.support.edge import RunningEdge
from tests.support.origin import Origin

from shieldwall.config.security import (
    IpAccessRuleConfig,
    RateLimitRuleConfig,
    SecurityConfig,
    ShieldConfig,
)
from shieldwall.edge.services import WorkerServices


def _rule(**kw: object) -> SecurityConfig:
    base: dict[str, object] = {"id": "per-ip", "requests": 3, "period": 10.0}
    base.update(kw)
    return SecurityConfig(rate_limits=(RateLimitRuleConfig(**base),))  # type: ignore[arg-type]


async def refused_at_accept(edge: RunningEdge, source: str) -> bool:
    """True when the edge closes the connection without sending a single byte."""
    reader, writer = await edge.connect(source)
    try:
        writer.write(b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")
        await writer.drain()
    except ConnectionError:
        return True
    try:
        async with asyncio.timeout(5):
            data = await reader.read(1)
    except ConnectionError:
        return True
    return data == b""


async def test_429_with_headers_then_allowed_after_period(
    origin: Origin, services: WorkerServices, clock: FakeClock
) -> None:
    config = shield_config(origin.port, security=_rule())
    async with shield_edge(config, services) as edge:
        for _ in range(3):
            status, _, body = await request(edge)
            assert (status, body) == (200, b"ok")
        status, headers, body = await request(edge)
        assert status == 429
        assert int(headers["retry-after"]) >= 1
        assert headers["ratelimit-policy"] == '"per-ip";q=3;w=10'
        assert headers["ratelimit"].startswith('"per-ip";r=0;t=')
        assert b"Too many requests" in body and headers["content-type"].startswith("text/html")
        assert headers["sw-request-id"]  # the ready-made page names no id: the header does
        # an API client gets JSON with the same fields
        status, headers, body = await request(edge, headers={"Accept": "application/json"})
        assert status == 429 and json.loads(body)["error"] == "rate_limited"
        assert "retry-after" in headers
        # another client address has its own key
        assert (await request(edge, source="127.0.0.2"))[0] == 200
        assert len(origin.requests) == 4
        clock.advance(25.0)  # two whole periods later the window is empty again
        assert (await request(edge))[0] == 200


async def test_blocked_key_answered_from_verdict_cache(
    origin: Origin, services: WorkerServices, clock: FakeClock
) -> None:
    config = shield_config(origin.port, security=_rule(mitigation_timeout=60.0))
    async with shield_edge(config, services) as edge:
        for _ in range(3):
            await request(edge)
        status, headers, _ = await request(edge)
        assert status == 429 and int(headers["retry-after"]) == 60
        clock.advance(30.0)  # the window has passed, the mitigation has not
        status, headers, _ = await request(edge)
        assert status == 429 and 29 <= int(headers["retry-after"]) <= 31
        clock.advance(31.0)
        assert (await request(edge))[0] == 200


async def test_log_action_only_records(origin: Origin, services: WorkerServices) -> None:
    config = shield_config(origin.port, security=_rule(requests=1, action="log"))
    async with shield_edge(config, services) as edge:
        assert [(await request(edge))[0] for _ in range(3)] == [200, 200, 200]
        assert edge.access_log.entries[-1].security_action == "log"


async def test_rule_scoped_by_method_and_path(origin: Origin, services: WorkerServices) -> None:
    config = shield_config(
        origin.port, security=_rule(requests=1, methods=("POST",), path_prefix="/login")
    )
    async with shield_edge(config, services) as edge:
        assert (await request(edge, "/login"))[0] == 200  # GET not counted
        assert (await request(edge, "/login", method="POST"))[0] == 200
        assert (await request(edge, "/login", method="POST"))[0] == 429
        assert (await request(edge, "/other", method="POST"))[0] == 200


async def test_per_ip_cap_bans_at_accept_until_expiry(
    origin: Origin, services: WorkerServices, clock: FakeClock
) -> None:
    shield = ShieldConfig(secret=SECRET, per_ip_requests=4, per_ip_period=10.0, ban_duration=60.0)
    config = shield_config(origin.port, shield=shield)
    async with shield_edge(config, services) as edge:
        # keep-alive: the 5th request on one connection is dropped without an answer
        reader, writer = await edge.connect("127.0.0.9")
        for i in range(5):
            writer.write(b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")
            if i < 4:
                head = await reader.readuntil(b"ok")
                assert head.startswith(b"HTTP/1.1 200")
        async with asyncio.timeout(5):
            assert await reader.read() == b""
        assert services.is_banned("127.0.0.9")
        assert await refused_at_accept(edge, "127.0.0.9")
        assert edge.server.worker.refused >= 1
        assert (await request(edge, source="127.0.0.10"))[0] == 200  # others unaffected
        assert len(origin.requests) == 5
        clock.advance(61.0)
        services.expire_bans()  # what the 1/s tick does
        assert not services.is_banned("127.0.0.9")
        assert (await request(edge, source="127.0.0.9"))[0] == 200


async def test_rate_limit_rule_with_ban_action(
    origin: Origin, services: WorkerServices, clock: FakeClock
) -> None:
    config = shield_config(origin.port, security=_rule(requests=2, action="ban"))
    async with shield_edge(config, services) as edge:
        assert (await request(edge, source="127.0.0.20"))[0] == 200
        assert (await request(edge, source="127.0.0.20"))[0] == 200
        assert await refused_at_accept(edge, "127.0.0.20")  # over: dropped and banned
        assert await refused_at_accept(edge, "127.0.0.20")  # refused at accept now
        assert services.is_banned("127.0.0.20")


async def test_global_block_rule_refused_at_accept(
    origin: Origin, services: WorkerServices
) -> None:
    rule = IpAccessRuleConfig(id="bad-net", mode="block", kind="cidr", value="127.0.3.0/24")
    shield = ShieldConfig(secret=SECRET, ip_access_rules=(rule,))
    async with shield_edge(shield_config(origin.port, shield=shield), services) as edge:
        assert await refused_at_accept(edge, "127.0.3.7")
        assert (await request(edge, source="127.0.4.7"))[0] == 200
        assert len(origin.requests) == 1
