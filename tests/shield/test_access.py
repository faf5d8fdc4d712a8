"""IP access rules through the edge: allow beats block across scopes, challenge, JSON."""

from __future__ import annotations

import json

from tests.shield.conftest import SECRET, request, shield_config, shield_edge
from tests.support.origin import Origin

from shieldwall.config.security import (
    IpAccessRuleConfig,
    RateLimitRuleConfig,
    SecurityConfig,
    ShieldConfig,
)
from shieldwall.edge.services import WorkerServices


async def test_zone_allow_beats_global_block(origin: Origin, services: WorkerServices) -> None:
    block = IpAccessRuleConfig(id="all-loopback", mode="block", kind="cidr", value="127.0.0.0/8")
    allow = IpAccessRuleConfig(id="office", mode="allow", kind="ip", value="127.0.0.5")
    security = SecurityConfig(
        level="under_attack",  # the allow skips the challenge too
        ip_access_rules=(allow,),
        rate_limits=(RateLimitRuleConfig(id="tiny", requests=1, period=60.0),),
    )
    shield = ShieldConfig(secret=SECRET, ip_access_rules=(block,))
    config = shield_config(origin.port, security=security, shield=shield)
    async with shield_edge(config, services) as edge:
        for _ in range(3):  # allowed: no rate limit, no challenge
            assert (await request(edge, source="127.0.0.5"))[0] == 200
        status, _, body = await request(edge, source="127.0.0.6")
        assert status == 403 and b"ip_access_rule" in body
        # an allow exists, so the block is not in the accept-time ban set (allow must win)
        assert not services.is_banned("127.0.0.6")
        status, _, body = await request(
            edge, source="127.0.0.6", headers={"Accept": "application/json"}
        )
        assert status == 403 and json.loads(body)["reason"] == "ip_access_rule"
        assert len(origin.requests) == 3
        entry = edge.access_log.entries[0]
        assert (entry.security_action, entry.security_rule) == ("allow", "test/office")


async def test_challenge_mode_rule_serves_challenge(
    origin: Origin, services: WorkerServices
) -> None:
    rule = IpAccessRuleConfig(id="suspect", mode="challenge", kind="cidr", value="127.0.7.0/24")
    config = shield_config(origin.port, security=SecurityConfig(ip_access_rules=(rule,)))
    async with shield_edge(config, services) as edge:
        status, headers, body = await request(
            edge, source="127.0.7.1", headers={"Accept": "text/html"}
        )
        assert status == 403 and b"Checking your browser" in body
        assert headers["cache-control"] == "no-store"
        assert (await request(edge, source="127.0.8.1"))[0] == 200
