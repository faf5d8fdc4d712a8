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

Skipped when an earlier allow (IP access rule, firewall ``skip``) put ``"ratelimit"`` in
``ctx.security_skip``. The limiters live in ``ShieldState`` so counts survive reloads.
"""

from __future__ import annotations

from typing import Final

from shieldwall.config.model import Config, ZoneConfig
from shieldwall.edge.context import RequestContext
from shieldwall.edge.decision import CONTINUE, Block, Decision
from shieldwall.edge.filters.shield_zone import ZoneShield, too_many_requests
from shieldwall.edge.pipeline import Filter
from shieldwall.edge.services import WorkerServices
from shieldwall.ratelimit.headers import ratelimit_headers

__all__ = ["PER_IP_POLICY", "build_ratelimit"]

PER_IP_POLICY: Final = "edge-per-ip"
_DROP: Final = Block(status=0, reason="banned", rule_id=PER_IP_POLICY, close=True)


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
    clock = services.clock
    ban_rules = {
        r.id: (r.mitigation_timeout or sh.ban_duration)
        for r in zone.security.rate_limits
        if r.action == "ban"
    }
    check = limiter.check if limiter is not None else None
    flood_ban = sh.per_ip_action == "ban"
    flood_period = sh.per_ip_period
    ban_duration = sh.ban_duration

    def ban_or_429(
        ctx: RequestContext, seconds: float, headers: tuple[tuple[bytes, bytes], ...]
    ) -> Decision:
        ip = ctx.client_ip
        if ip == ctx.conn.peer_ip:
            state.ban(ip, seconds)
            ctx.security_action, ctx.security_reason = "ban", "ratelimit"
            return _DROP
        return too_many_requests(ctx, headers, zs.is_api(ctx))

    def rate_limit(ctx: RequestContext) -> Decision:
        if ctx.security_skip and "ratelimit" in ctx.security_skip:
            return CONTINUE
        if flood is not None:
            v = flood.hit(ctx.client_ip, clock())
            if not v.admitted:
                ctx.security_rule = PER_IP_POLICY
                if flood_ban:
                    if v.cached and ctx.client_ip == ctx.conn.peer_ip:
                        return _DROP  # banned already: another connection of the same client
                    headers = ratelimit_headers(PER_IP_POLICY, flood_period, v)
                    return ban_or_429(ctx, ban_duration, headers)
                ctx.security_action = "block"
                headers = ratelimit_headers(PER_IP_POLICY, flood_period, v)
                return too_many_requests(ctx, headers, zs.is_api(ctx))
        if check is None:
            return CONTINUE
        d = check(ctx)
        if d is CONTINUE or not isinstance(d, Block):
            return d  # Continue, or a Challenge for the renderer
        seconds = ban_rules.get(d.rule_id)
        if seconds is not None:
            return ban_or_429(ctx, seconds, d.headers)
        return too_many_requests(ctx, d.headers, zs.is_api(ctx))

    return (rate_limit,)
