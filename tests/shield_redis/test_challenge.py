"""Clearance and proof-of-work redemption across two nodes sharing a private Redis.

Nodes have their own data directories (their own local secrets) and no configured secret: they
agree on the fleet's signing secret through Redis. A solved challenge is redeemed through the
"verifying" round trip (``307`` to a claim) and is good for one clearance in the whole fleet;
while Redis is down each node still redeems it at most once (the documented fallback).
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from urllib.parse import quote

from tests.shield.conftest import FakeClock, request
from tests.shield.test_challenge import API, BROWSER, UNDER_ATTACK, get_token, solve
from tests.shield_redis.conftest import Node, eventually, fleet, redis_config, with_data_dir
from tests.state.conftest import RedisServer
from tests.support.origin import Origin

from shieldwall.config.model import Config
from shieldwall.config.security import SecurityConfig
from shieldwall.edge.filters.shield_fleet import MAX_VERIFY_HOPS
from shieldwall.edge.services import WorkerServices

Answer = tuple[int, dict[str, str], bytes]


async def redeem(node: Node, target: str) -> tuple[Answer, list[str]]:
    """POST ``target``, following ``307``s on the same node; the last answer and the hops."""
    hops: list[str] = []
    for _ in range(MAX_VERIFY_HOPS + 2):
        status, headers, body = await request(node.edge, target, method="POST", headers=API)
        if status != 307:
            return (status, headers, body), hops
        target = headers["location"]
        hops.append(target)
    raise AssertionError(f"endless redirects: {hops}")


def answer_url(token: str, solution: str) -> str:
    return f"/.shieldwall/challenge?token={quote(token)}&solution={solution}"


def cookie_of(answer: Answer) -> str:
    status, headers, body = answer
    assert status == 200 and json.loads(body)["ok"] is True, answer
    return headers["set-cookie"].split(";")[0]


def refused_because(answer: Answer) -> str:
    status, headers, _ = answer
    assert status == 403 and "set-cookie" not in headers, answer
    return headers["sw-challenge-result"]


def configs(origin: Origin, redis: RedisServer, tmp_path: Path) -> tuple[Config, Config]:
    base = redis_config(origin, redis, security=UNDER_ATTACK, secret="")
    return with_data_dir(base, tmp_path / "a"), with_data_dir(base, tmp_path / "b")


async def test_clearance_from_a_accepted_on_b_and_no_replay_anywhere(
    origin: Origin, redis_server: RedisServer, clock: FakeClock, tmp_path: Path
) -> None:
    async with fleet(clock, *configs(origin, redis_server, tmp_path)) as (a, b):
        assert a.shield.keys is not None and b.shield.keys is not None
        assert a.shield.keys.active == b.shield.keys.active  # one fleet secret, via Redis
        token, bits = await get_token(a.edge)
        url = answer_url(token, solve(token, bits))
        answer, hops = await redeem(a, url)
        assert hops and hops[0].startswith("/.shieldwall/challenge?claim=")
        assert len(hops) < MAX_VERIFY_HOPS  # usually 1: one more while the record is pending
        claim_url = hops[0]
        value = cookie_of(answer)
        # the clearance minted on A is accepted on B
        status, _, body = await request(b.edge, "/page", headers={**API, "Cookie": value})
        assert (status, body) == (200, b"ok")
        assert b.edge.access_log.entries[-1].clearance_id
        # the same answer replayed: refused on B (the fleet record) and on A (its own set)
        answer, hops = await redeem(b, url)
        assert refused_because(answer) == "replayed" and hops
        answer, hops = await redeem(a, url)
        assert refused_because(answer) == "replayed" and hops == []
        # the claim URL replayed: settled once on A; unknown to B (only its owner settles it)
        for node in (a, b):
            answer, hops = await redeem(node, claim_url)
            assert refused_because(answer) == "verification_unknown"
            assert len(hops) == MAX_VERIFY_HOPS - 1  # bounded retries, then refused
        assert a.shield.fleet is not None and a.shield.fleet.open_claims() == 0


async def test_simultaneous_redemption_on_both_nodes_yields_one_clearance(
    origin: Origin, redis_server: RedisServer, clock: FakeClock, tmp_path: Path
) -> None:
    async with fleet(clock, *configs(origin, redis_server, tmp_path)) as (a, b):
        for _ in range(3):
            token, bits = await get_token(b.edge)  # issued by B, redeemed on either
            url = answer_url(token, solve(token, bits))
            results = await asyncio.gather(redeem(a, url), redeem(b, url))
            statuses = sorted(answer[0] for answer, _ in results)
            assert statuses == [200, 403], results
            loser = next(answer for answer, _ in results if answer[0] == 403)
            assert refused_because(loser) == "replayed"


async def test_redis_down_each_node_redeems_at_most_once(
    origin: Origin, redis_server: RedisServer, clock: FakeClock, tmp_path: Path
) -> None:
    async with fleet(clock, *configs(origin, redis_server, tmp_path)) as (a, b):
        token, bits = await get_token(a.edge)
        url = answer_url(token, solve(token, bits))
        redis_server.stop()
        await eventually(
            "both nodes notice the outage",
            lambda: not a.shield.health.healthy and not b.shield.health.healthy,
        )
        # no fleet record can be written: each node decides alone, at once (no round trip)
        answer, hops = await redeem(a, url)
        value = cookie_of(answer)
        assert hops == []
        assert refused_because((await redeem(a, url))[0]) == "replayed"
        # the documented bound: one more clearance per other node while Redis is away
        answer, hops = await redeem(b, url)
        cookie_of(answer)
        assert refused_because((await redeem(b, url))[0]) == "replayed"
        # clearances keep working everywhere (stateless cookies, shared secret)
        assert (await request(b.edge, "/page", headers={**API, "Cookie": value}))[0] == 200
        # Redis comes back: redemptions go through the fleet record again
        redis_server.start()
        await eventually(
            "both nodes reconnect",
            lambda: a.shield.health.healthy and b.shield.health.healthy,
        )
        token, bits = await get_token(a.edge)
        url = answer_url(token, solve(token, bits))
        answer, hops = await redeem(b, url)
        cookie_of(answer)
        assert hops  # the verifying round trip is back (more hops while the record is pending)
        assert refused_because((await redeem(a, url))[0]) == "replayed"


async def test_timelock_goes_through_the_claim_and_returns_home(
    origin: Origin, redis_server: RedisServer, clock: FakeClock, tmp_path: Path
) -> None:
    security = SecurityConfig(level="low", challenge_difficulty=8)
    base = redis_config(origin, redis_server, security=security)
    async with fleet(clock, base, base) as (a, b):
        token = a.shield.pow.issue("test", 8, clock.wall_now() - 6)  # waited long enough
        target = f"/.shieldwall/challenge?token={quote(token)}&timelock=1&r=/back%3Fx%3D1"
        hops = 0
        while True:
            status, headers, _ = await request(a.edge, target, headers=BROWSER)
            if status != 307:
                break
            hops += 1
            target = headers["location"]
            assert "timelock=1" in target and hops < MAX_VERIFY_HOPS
        assert hops >= 1
        assert status == 303 and headers["location"] == "/back?x=1"
        assert headers["set-cookie"].startswith("__sw_clearance=")
        status, headers, _ = await request(
            b.edge, f"/.shieldwall/challenge?token={quote(token)}&timelock=1&r=/", headers=BROWSER
        )
        assert status == 307  # B opens its own claim, which loses: the token was redeemed
        status, headers, _ = await request(b.edge, headers["location"], headers=BROWSER)
        while status == 307:
            status, headers, _ = await request(b.edge, headers["location"], headers=BROWSER)
        assert status == 403 and headers["sw-challenge-result"] == "replayed"


async def test_nodes_starting_together_elect_one_secret(
    origin: Origin, redis_server: RedisServer, clock: FakeClock, tmp_path: Path
) -> None:
    config_a, config_b = configs(origin, redis_server, tmp_path)
    services = [WorkerServices(clock=clock.now, wall_clock=clock.wall_now) for _ in range(2)]
    for s, c in zip(services, (config_a, config_b), strict=True):
        s.shield.provision(c)
    assert services[0].shield.keys is not None and services[1].shield.keys is not None
    assert services[0].shield.keys.active != services[1].shield.keys.active  # own secrets
    try:
        await asyncio.gather(*(s.start() for s in services))
        assert services[0].shield.keys.active == services[1].shield.keys.active
    finally:
        for s in services:
            await s.stop()
