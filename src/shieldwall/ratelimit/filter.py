"""The rate-limit filter of the ``request_headers`` phase, and its ``log``-phase counterpart.

``RateLimiter(rules, clock)`` holds one limiter (and one bounded key table) per rule:

- ``check(ctx)`` is a ``Filter``: for each rule that applies it derives the key and counts the
  request (rules with ``count_cache_misses_only`` only *look*: the cache status is not known yet).
  The first rule over its limit decides: ``block`` -> ``Block(429)`` with ``Retry-After``,
  ``RateLimit`` and ``RateLimit-Policy``; ``challenge`` -> ``Challenge`` (a client that already
  holds a verified clearance, ``ctx.clearance_id``, passes); ``log`` -> marks the context
  (``security_action = "log"``) and goes on.
- ``observe(ctx)`` is a ``Filter`` for the ``log`` phase: it counts the request for rules with
  ``count_cache_misses_only`` unless the cache answered it (``ctx.cache_status == "HIT"``).

Both are synchronous and do no I/O; ``clock`` is injected (``time.monotonic`` in production is
fine for rate state, since windows only need a common, steady time base within one process; use
wall-clock time when counters are shared through ``state/sync.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from shieldwall.edge.context import RequestContext
from shieldwall.edge.decision import CONTINUE, Block, Challenge, Decision
from shieldwall.errors import ConfigError
from shieldwall.ratelimit.headers import ratelimit_headers
from shieldwall.ratelimit.limiter import (
    GcraLimiter,
    Limiter,
    SharedCounter,
    SlidingWindowLimiter,
    Verdict,
)
from shieldwall.ratelimit.rules import RateLimitRule, derive_key

__all__ = ["Clock", "RateLimiter", "build_filter", "make_limiter"]

Clock = Callable[[], float]


def make_limiter(rule: RateLimitRule, shared: SharedCounter | None = None) -> Limiter:
    if rule.algorithm == "gcra":
        return GcraLimiter(
            rule.requests_per_period, rule.period, rule.mitigation_timeout, rule.key_budget
        )
    return SlidingWindowLimiter(
        rule.requests_per_period,
        rule.period,
        rule.mitigation_timeout,
        rule.key_budget,
        shared=shared,
    )


class _SharedForRule:
    """Prefixes keys with the rule id so rules never share fleet counters."""

    __slots__ = ("inner", "prefix")

    def __init__(self, inner: SharedCounter, rule_id: str) -> None:
        self.inner = inner
        self.prefix = "rl:" + rule_id + ":"

    def add(self, key: str, window: int, ttl: float, amount: int = 1) -> int:
        return self.inner.add(self.prefix + key, window, ttl, amount)

    def get(self, key: str, window: int) -> int:
        return self.inner.get(self.prefix + key, window)


class RateLimiter:
    __slots__ = ("_deferred", "_entries", "clock")

    def __init__(
        self,
        rules: Sequence[RateLimitRule],
        clock: Clock,
        shared: SharedCounter | None = None,
    ) -> None:
        self.clock = clock
        ids = [r.id for r in rules]
        if len(set(ids)) != len(ids):
            raise ConfigError("rate_limits", "rule ids must be unique")
        self._entries: tuple[tuple[RateLimitRule, Limiter], ...] = tuple(
            (r, make_limiter(r, None if shared is None else _SharedForRule(shared, r.id)))
            for r in rules
        )
        self._deferred = tuple(e for e in self._entries if e[0].count_cache_misses_only)

    def limiter(self, rule_id: str) -> Limiter:
        for r, lim in self._entries:
            if r.id == rule_id:
                return lim
        raise KeyError(rule_id)

    def forget_address(self, ip: str) -> int:
        """``ip`` starts afresh under every rule keyed by the client address alone (an
        operator lifted its ban: else its next request, still over the limit in the window,
        would ban it again). Rules keyed by more than the address cannot be found from it
        and keep their counts. Returns how many rules forgot it."""
        n = 0
        for rule, lim in self._entries:
            if rule.by_address:
                lim.forget(ip)
                n += 1
        return n

    def check(self, ctx: RequestContext) -> Decision:
        now = self.clock()
        for rule, lim in self._entries:
            if not rule.applies(ctx):
                continue
            key = derive_key(rule.characteristics, ctx)
            v = lim.peek(key, now) if rule.count_cache_misses_only else lim.hit(key, now)
            if v.admitted:
                continue
            d = self._refuse(rule, v, ctx)
            if d is not CONTINUE:
                return d
        return CONTINUE

    def observe(self, ctx: RequestContext) -> Decision:
        if not self._deferred or ctx.cache_status == "HIT":
            return CONTINUE
        now = self.clock()
        for rule, lim in self._deferred:
            if rule.applies(ctx):
                lim.hit(derive_key(rule.characteristics, ctx), now)
        return CONTINUE

    @staticmethod
    def _refuse(rule: RateLimitRule, v: Verdict, ctx: RequestContext) -> Decision:
        if rule.action == "block":
            ctx.security_action, ctx.security_rule = "block", rule.id
            return Block(
                status=429,
                reason="ratelimit",
                rule_id=rule.id,
                headers=ratelimit_headers(rule.id, rule.period, v),
            )
        if rule.action == "challenge":
            if ctx.clearance_id:
                return CONTINUE
            ctx.security_action, ctx.security_rule = "challenge", rule.id
            return Challenge(kind="js", reason="ratelimit", rule_id=rule.id)
        if not ctx.security_action:
            ctx.security_action, ctx.security_rule = "log", rule.id
        return CONTINUE


def build_filter(
    rules: Sequence[RateLimitRule], clock: Clock, shared: SharedCounter | None = None
) -> Callable[[RequestContext], Decision]:
    """The ``request_headers`` filter for ``rules`` (keep the ``RateLimiter`` for ``observe``)."""
    return RateLimiter(rules, clock, shared).check
