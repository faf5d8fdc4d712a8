"""The request_headers filter: decisions, 429 headers, actions, cache-miss-only counting."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from shieldwall.edge.context import RequestContext
from shieldwall.edge.decision import CONTINUE, Block, Challenge
from shieldwall.errors import ConfigError
from shieldwall.ratelimit.filter import RateLimiter, build_filter
from shieldwall.ratelimit.headers import policy_value, ratelimit_value
from shieldwall.ratelimit.limiter import Verdict
from shieldwall.ratelimit.rules import Characteristic, KeyPart, RateLimitRule

from .conftest import FakeClock

Factory = Callable[..., RequestContext]


def test_block_429_with_headers(clock: FakeClock, ctx_factory: Factory) -> None:
    clock.t = 600.0
    f = build_filter([RateLimitRule("per-ip", 2, 60.0, mitigation_timeout=30.0)], clock)
    assert f(ctx_factory()) is CONTINUE
    assert f(ctx_factory()) is CONTINUE
    ctx = ctx_factory()
    d = f(ctx)
    assert isinstance(d, Block) and d.status == 429 and d.rule_id == "per-ip"
    h = dict(d.headers)
    assert h[b"retry-after"] == b"30"
    assert h[b"ratelimit"] == b'"per-ip";r=0;t=30'
    assert h[b"ratelimit-policy"] == b'"per-ip";q=2;w=60'
    assert ctx.security_action == "block" and ctx.security_rule == "per-ip"
    assert f(ctx_factory(ip="192.0.2.8")) is CONTINUE  # another client
    clock.advance(10)
    d2 = f(ctx_factory())
    assert isinstance(d2, Block) and dict(d2.headers)[b"retry-after"] == b"20"
    clock.advance(20)  # timeout over, but this window's count is still at the limit: re-armed
    d3 = f(ctx_factory())
    assert isinstance(d3, Block) and dict(d3.headers)[b"retry-after"] == b"30"
    clock.t = 720.0  # two windows later: counters decayed and the block expired
    assert f(ctx_factory()) is CONTINUE


def test_header_values() -> None:
    v = Verdict(False, 10, 0, 4.2)
    assert ratelimit_value('we"ird\\', v) == b'"weird";r=0;t=5'
    assert policy_value("p", 100, 0.5) == b'"p";q=100;w=1'


def test_challenge_action_and_cleared_clients(clock: FakeClock, ctx_factory: Factory) -> None:
    f = build_filter([RateLimitRule("c", 1, 10.0, action="challenge")], clock)
    assert f(ctx_factory()) is CONTINUE
    d = f(ctx_factory())
    assert isinstance(d, Challenge) and d.rule_id == "c"
    cleared = ctx_factory()
    cleared.clearance_id = "abc"
    assert f(cleared) is CONTINUE


def test_log_action_marks_and_continues(clock: FakeClock, ctx_factory: Factory) -> None:
    f = build_filter([RateLimitRule("l", 1, 10.0, action="log")], clock)
    f(ctx_factory())
    ctx = ctx_factory()
    assert f(ctx) is CONTINUE and ctx.security_action == "log"


def test_first_refusing_rule_wins_and_unmatched_rules_skip(
    clock: FakeClock, ctx_factory: Factory
) -> None:
    rules = [
        RateLimitRule("api", 1, 10.0, path_prefix=b"/api"),
        RateLimitRule("zone", 3, 10.0, characteristics=(KeyPart(Characteristic.ZONE),)),
    ]
    f = build_filter(rules, clock)
    assert f(ctx_factory(path=b"/api/a")) is CONTINUE
    d = f(ctx_factory(path=b"/api/b"))
    assert isinstance(d, Block) and d.rule_id == "api"
    # zone counted /api/a (admitted by "api") but not /api/b (refused before reaching "zone")
    assert f(ctx_factory(ip="10.0.0.1", path=b"/")) is CONTINUE
    assert f(ctx_factory(ip="10.0.0.2", path=b"/")) is CONTINUE
    d2 = f(ctx_factory(ip="10.0.0.3", path=b"/"))
    assert isinstance(d2, Block) and d2.rule_id == "zone"


def test_count_only_cache_misses(clock: FakeClock, ctx_factory: Factory) -> None:
    rl = RateLimiter([RateLimitRule("m", 2, 10.0, count_cache_misses_only=True)], clock)
    for _ in range(5):  # cache hits: looked at, never counted
        ctx = ctx_factory()
        assert rl.check(ctx) is CONTINUE
        ctx.cache_status = "HIT"
        rl.observe(ctx)
    for _ in range(2):
        ctx = ctx_factory()
        assert rl.check(ctx) is CONTINUE
        ctx.cache_status = "MISS"
        rl.observe(ctx)
    assert isinstance(rl.check(ctx_factory()), Block)


def test_duplicate_rule_ids_rejected(clock: FakeClock) -> None:
    with pytest.raises(ConfigError):
        RateLimiter([RateLimitRule("a", 1, 1.0), RateLimitRule("a", 2, 1.0)], clock)


class _DictShared:
    """A trivially correct SharedCounter (the real one is state.sync.SyncedCounters)."""

    def __init__(self) -> None:
        self.d: dict[tuple[str, int], int] = {}

    def add(self, key: str, window: int, ttl: float, amount: int = 1) -> int:
        self.d[key, window] = self.d.get((key, window), 0) + amount
        return self.d[key, window]

    def get(self, key: str, window: int) -> int:
        return self.d.get((key, window), 0)


def test_shared_counter_is_used_and_prefixed(clock: FakeClock, ctx_factory: Factory) -> None:
    shared = _DictShared()
    f = build_filter([RateLimitRule("s", 2, 10.0)], clock, shared=shared)
    w = int(clock.t // 10.0)
    shared.d["rl:s:192.0.2.7", w] = 2  # the rest of the fleet already used the quota
    assert isinstance(f(ctx_factory()), Block)
    assert f(ctx_factory(ip="192.0.2.9")) is CONTINUE
    assert shared.d["rl:s:192.0.2.9", w] == 1
