"""Rate limits as ``request_headers`` filter #5: the edge-wide per-IP cap, then the zone's rules.

- **Per-IP cap** (``[shield] per_ip_requests`` per ``per_ip_period``, every zone together): one
  sliding-window limiter keyed by the client IP. Over it, with ``per_ip_action = "ban"``, the
  address is put in the accept-time ban set for ``ban_duration`` and this connection is dropped
  without an answer; its later connections are refused before a byte is read. With ``block``,
  ``429``. A key over its limit stays refused for the whole ban (the limiter's blocked-verdict
  cache), so other open connections of the same client are dropped without counting.
- **Zone rules** (``[[zones.security.rate_limits]]``, ``ratelimit.RateLimiter``): ``block`` ->
  ``429`` with ``Retry-After``, ``RateLimit`` and ``RateLimit-Policy`` (JSON for API clients);
  ``challenge`` -> the challenge page (a client with clearance passes); ``log`` -> recorded only;
  ``ban`` -> like block, plus an accept-time ban of the client for the rule's
  ``mitigation_timeout`` (``[shield] ban_duration`` if 0).

Bans are only set on the socket peer: when the client address came from a trusted proxy's
``X-Forwarded-For`` the connection belongs to the proxy, which must never be banned, so the
request is answered ``429`` instead.

Hot path: rules are evaluated here directly over the ``RateLimiter``'s limiters (kept in
``ShieldState`` so counts survive reloads) instead of through ``RateLimiter.check``, so a
refusal costs one limiter probe plus a cached header tuple: the ``RateLimit``/``Retry-After``
values only change when their whole-second figures do (``_HeaderCache``).

Skipped when an earlier allow (IP access rule, firewall ``skip``) put ``"ratelimit"`` in
``ctx.security_skip``. The limiters live in ``ShieldState`` so counts survive reloads.
"""

from __future__ import annotations

from typing import Final

from shieldwall.config.model import Config, ZoneConfig
from shieldwall.edge.context import RequestContext
from shieldwall.edge.decision import CONTINUE, Block, Challenge, Decision
from shieldwall.edge.filters.shield_state import rule_from_config
from shieldwall.edge.filters.shield_zone import ZoneShield, too_many_headers, too_many_requests
from shieldwall.edge.pipeline import Filter
from shieldwall.edge.services import WorkerServices
from shieldwall.ratelimit import Characteristic, RateLimitRule, derive_key
from shieldwall.ratelimit.headers import ratelimit_headers
from shieldwall.ratelimit.limiter import Limiter, Verdict

__all__ = ["PER_IP_POLICY", "build_ratelimit"]

PER_IP_POLICY: Final = "edge-per-ip"
MAX_CACHED_HEADERS: Final = 4096  # (rule, seconds) header tuples kept; cleared when full
_DROP: Final = Block(status=0, reason="banned", rule_id=PER_IP_POLICY, close=True)
Headers = tuple[tuple[bytes, bytes], ...]


class _HeaderCache:
    """429 header tuples per (policy, remaining, whole seconds to reset, api)."""

    __slots__ = ("_d",)

    def __init__(self) -> None:
        self._d: dict[tuple[str, float, int, int, bool], Headers] = {}

    def get(self, name: str, period: float, v: Verdict, api: bool) -> Headers:
        k = (name, period, v.remaining, int(v.reset * 1000 + 999) // 1000, api)
        h = self._d.get(k)
        if h is None:
            if len(self._d) >= MAX_CACHED_HEADERS:
                self._d.clear()
            h = self._d[k] = too_many_headers(ratelimit_headers(name, period, v), api)
        return h


def build_ratelimit(
    zone: ZoneConfig, config: Config, services: WorkerServices
) -> tuple[Filter, ...]:
    state = services.shield
    sh = config.shield
    limiter = state.limiter_for(zone)
    flood = state.flood
    if limiter is None and flood is None:
        return ()
    zs = ZoneShield.of(zone, config)
    is_api = zs.is_api
    clock = services.clock  # per-IP cap (local) and bans: monotonic
    # zone rules counted fleet-wide number their windows by wall time, the one time base nodes
    # share (each node's monotonic clock has its own origin); local ones use monotonic time
    rule_clock = services.wall_clock if state.counters is not None else clock
    cache = _HeaderCache()
    ban_for: dict[str, float] = {
        r.id: (r.mitigation_timeout or sh.ban_duration)
        for r in zone.security.rate_limits
        if r.action == "ban"
    }
    rules: list[tuple[RateLimitRule, Limiter, bool, bool, float]] = []
    if limiter is not None:
        for rc in zone.security.rate_limits:
            rule = rule_from_config(rc, sh.ban_duration)
            parts = rule.characteristics
            only_ip = len(parts) == 1 and parts[0].kind is Characteristic.IP
            scoped = bool(rule.methods or rule.path_prefix or rule.matcher)
            ban = ban_for.get(rule.id, -1.0)
            rules.append((rule, limiter.limiter(rule.id), only_ip, scoped, ban))
    flood_ban = sh.per_ip_action == "ban"
    flood_period = sh.per_ip_period
    ban_duration = sh.ban_duration

    def ban_or_429(
        ctx: RequestContext, seconds: float, name: str, period: float, v: Verdict
    ) -> Decision:
        ip = ctx.client_ip
        if ip == ctx.conn.peer_ip:
            if not v.cached:
                state.ban(ip, seconds)
            ctx.security_action, ctx.security_reason = "ban", "ratelimit"
            return _DROP
        api = is_api(ctx)
        return too_many_requests(ctx, cache.get(name, period, v, api), api)

    def rate_limit(ctx: RequestContext) -> Decision:
        if ctx.security_skip and "ratelimit" in ctx.security_skip:
            return CONTINUE
        if flood is not None:
            v = flood.hit(ctx.client_ip, clock())
            if not v.admitted:
                ctx.security_rule = PER_IP_POLICY
                if flood_ban:
                    return ban_or_429(ctx, ban_duration, PER_IP_POLICY, flood_period, v)
                ctx.security_action = "block"
                api = is_api(ctx)
                return too_many_requests(ctx, cache.get(PER_IP_POLICY, flood_period, v, api), api)
        now = rule_clock()
        for rule, lim, only_ip, scoped, ban in rules:
            if scoped and not rule.applies(ctx):
                continue
            v = lim.hit(ctx.client_ip if only_ip else derive_key(rule.characteristics, ctx), now)
            if v.admitted:
                continue
            d = _refuse(ctx, rule, v, ban)
            if d is None:
                continue
            if d is _DROP:
                return ban_or_429(ctx, ban, rule.id, rule.period, v)
            if d is _BLOCK:
                ctx.security_action, ctx.security_rule = "block", rule.id
                api = is_api(ctx)
                return too_many_requests(ctx, cache.get(rule.id, rule.period, v, api), api)
            return d
        return CONTINUE

    return (rate_limit,)


_BLOCK: Final = Block(status=429, reason="ratelimit")


def _refuse(ctx: RequestContext, rule: RateLimitRule, v: Verdict, ban: float) -> Decision | None:
    """What the rule's action says for a refused verdict (None: go on to the next rule)."""
    if rule.action == "block":
        return _DROP if ban >= 0 else _BLOCK
    if rule.action == "challenge":
        if ctx.clearance_id:
            return None
        ctx.security_rule = rule.id
        return Challenge(kind="js", reason="ratelimit", rule_id=rule.id)
    if not ctx.security_action:
        ctx.security_action, ctx.security_rule = "log", rule.id
    return None
