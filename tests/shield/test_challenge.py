"""Security levels and the challenge round trip through a real edge and origin.

The proof of work is solved here in Python by brute force at a low difficulty (8 bits: ~256
hashes), redeemed at ``/.shieldwall/challenge``, and the clearance cookie then reaches the
origin. Replays, wrong clients and renewal are checked with the injected clock.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from dataclasses import replace
from pathlib import Path
from urllib.parse import quote

from tests.shield.conftest import FakeClock, request, shield_config, shield_edge
from tests.support.edge import RunningEdge
from tests.support.origin import Origin

from shieldwall.challenge.pow import leading_zero_bits
from shieldwall.config.security import SecurityConfig, ShieldConfig
from shieldwall.edge.services import WorkerServices

BROWSER = {"Accept": "text/html,application/xhtml+xml", "User-Agent": "Mozilla/5.0 test"}
API = {"Accept": "application/json", "User-Agent": "curl/8"}
UNDER_ATTACK = SecurityConfig(level="under_attack", challenge_difficulty=8, api_paths=("/api/",))


def solve(token: str, bits: int) -> str:
    for n in range(1 << 20):
        if leading_zero_bits(hashlib.sha256(f"{token}{n}".encode()).digest()) >= bits:
            return str(n)
    raise AssertionError("no solution in 2**20 tries")


async def get_token(edge: RunningEdge, headers: dict[str, str] = API) -> tuple[str, int]:
    status, _, body = await request(edge, "/page", headers=headers)
    assert status == 403
    doc = json.loads(body)
    assert doc["error"] == "challenge_required"
    return doc["challenge"]["token"], doc["challenge"]["difficulty"]


async def redeem(
    edge: RunningEdge, token: str, solution: str, headers: dict[str, str] = API
) -> tuple[int, dict[str, str], bytes]:
    target = f"/.shieldwall/challenge?token={quote(token)}&solution={solution}"
    return await request(edge, target, method="POST", headers=headers)


async def test_under_attack_browser_api_and_feeds(origin: Origin, services: WorkerServices) -> None:
    async with shield_edge(shield_config(origin.port, security=UNDER_ATTACK), services) as edge:
        status, headers, body = await request(edge, "/", headers=BROWSER)
        assert status == 503 and headers["content-type"].startswith("text/html")
        assert b"Checking your browser" in body and b"swSolve" in body
        assert headers["cache-control"] == "no-store"
        assert "nonce-" in headers["content-security-policy"]
        status, headers, body = await request(edge, "/", headers=API)
        assert status == 403 and headers["content-type"] == "application/json"
        assert json.loads(body)["challenge"]["difficulty"] == 8
        # an API path gets JSON even when the client asks for HTML
        status, headers, _ = await request(edge, "/api/v1/items", headers=BROWSER)
        assert status == 403 and headers["content-type"] == "application/json"
        # feeds are exempt by default
        for path in ("/feed", "/feed/atom", "/blog/index.rss", "/x.atom"):
            assert (await request(edge, path, headers=BROWSER))[0] == 200, path
        assert [r.target for r in origin.requests] == ["/feed", "/feed/atom", "/blog/index.rss",
                                                       "/x.atom"]  # fmt: skip


async def test_solve_redeem_reach_origin_and_no_replay(
    origin: Origin, services: WorkerServices
) -> None:
    async with shield_edge(shield_config(origin.port, security=UNDER_ATTACK), services) as edge:
        token, bits = await get_token(edge)
        solution = solve(token, bits)
        status, headers, body = await redeem(edge, token, solution)
        assert status == 200 and json.loads(body)["ok"] is True
        cookie = headers["set-cookie"]
        assert cookie.startswith("__sw_clearance=") and "HttpOnly" in cookie
        value = cookie.split(";")[0]
        status, _, body = await request(edge, "/page", headers={**API, "Cookie": value})
        assert (status, body) == (200, b"ok")
        assert origin.requests[-1].target == "/page"
        assert edge.access_log.entries[-1].clearance_id
        # the same answer again is refused (single use)
        status, headers, _ = await redeem(edge, token, solution)
        assert status == 403 and headers["sw-challenge-result"] == "replayed"
        # the cookie is bound to the client: another User-Agent is challenged again
        other = {**API, "User-Agent": "other", "Cookie": value}
        assert (await request(edge, "/page", headers=other))[0] == 403
        # a wrong answer and a forged token
        token2, _ = await get_token(edge)
        status, headers, _ = await redeem(edge, token2, "1" if solution != "1" else "2")
        assert status == 403
        assert headers["sw-challenge-result"] in ("insufficient_work", "ok")
        status, headers, _ = await redeem(edge, token2[:-3] + "AAA", solution)
        assert status == 403 and headers["sw-challenge-result"] in ("bad_signature", "malformed")


async def test_clearance_renewed_past_half_life(
    origin: Origin, services: WorkerServices, clock: FakeClock
) -> None:
    async with shield_edge(shield_config(origin.port, security=UNDER_ATTACK), services) as edge:
        token, bits = await get_token(edge, BROWSER | {"Accept": "application/json"})
        _, headers, _ = await redeem(edge, token, solve(token, bits), BROWSER)
        value = headers["set-cookie"].split(";")[0]
        with_cookie = {**BROWSER, "Cookie": value}
        assert (await request(edge, "/a", headers=with_cookie))[0] == 200
        clock.advance(20 * 60)  # default lifetime 30 min: past half
        status, headers, _ = await request(edge, "/a?x=1", headers=with_cookie)
        assert status == 200 and "location" not in headers  # the origin's answer, proxied
        fresh = headers["set-cookie"].split(";")[0]
        assert fresh != value
        clock.advance(12 * 60)  # the old cookie has expired; the renewed one is not yet half-used
        assert (await request(edge, "/a", headers=with_cookie))[0] == 503
        assert (await request(edge, "/a", headers={**BROWSER, "Cookie": fresh}))[0] == 200


async def test_timelock_for_no_js_clients_at_low_level(
    origin: Origin, services: WorkerServices, clock: FakeClock
) -> None:
    security = SecurityConfig(level="low", challenge_difficulty=8)
    async with shield_edge(shield_config(origin.port, security=security), services) as edge:
        # "low" challenges nobody with a zero threat score; the endpoint still redeems tokens
        assert (await request(edge, "/", headers=BROWSER))[0] == 200
        token = services.shield.pow.issue("test", 8, clock.wall_now())
        target = f"/.shieldwall/challenge?token={quote(token)}&timelock=1&r=/back"
        assert (await request(edge, target, headers=BROWSER))[0] == 403  # too early
        clock.advance(6)
        token = services.shield.pow.issue("test", 8, clock.wall_now() - 6)
        target = f"/.shieldwall/challenge?token={quote(token)}&timelock=1&r=//evil.example/"
        status, headers, _ = await request(edge, target, headers=BROWSER)
        assert status == 303 and headers["location"] == "/"  # never off-site
        assert headers["set-cookie"].startswith("__sw_clearance=")


async def test_secret_file_created_0600_and_shared_by_workers(
    origin: Origin, tmp_path: Path, clock: FakeClock
) -> None:
    base = shield_config(origin.port, security=UNDER_ATTACK)
    config = replace(base, data_dir=str(tmp_path / "data"), shield=ShieldConfig())
    w1 = WorkerServices(clock=clock.now, wall_clock=clock.wall_now)
    w2 = WorkerServices(clock=clock.now, wall_clock=clock.wall_now)
    async with shield_edge(config, w1) as edge1, shield_edge(config, w2) as edge2:
        secret = tmp_path / "data" / "shield.secret"
        assert stat.S_IMODE(os.stat(secret).st_mode) == 0o600
        token, bits = await get_token(edge1)
        _, headers, _ = await redeem(edge2, token, solve(token, bits))  # issued by w1
        value = headers["set-cookie"].split(";")[0]
        assert (await request(edge1, "/", headers={**API, "Cookie": value}))[0] == 200
