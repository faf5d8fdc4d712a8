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

Hot path (a client over its limit, request after request): rules are evaluated here directly
over the ``RateLimiter``'s limiters (kept in ``ShieldState`` so counts survive reloads) instead of
through ``RateLimiter.check``. A refused key is answered from the limiter's hold cache
(``Limiter.held``, one dict probe, read here before ``hit``) with a ready-made ``Respond`` per
policy and whole second to reset (``shield_zone.TooManyAnswers``): no table probe, no window
arithmetic, no allocation. Rules are still visited in order, so earlier rules (and the per-IP
cap) count the request exactly as before.

Skipped when an earlier allow (IP access rule, firewall ``skip``) put ``"ratelimit"`` in
``ctx.security_skip``. The limiters live in ``ShieldState`` so counts survive reloads.
"""

from __future__ import annotations

from typing import Final

from shieldwall.config.model import Config, ZoneConfig
from shieldwall.edge.context import RequestContext
from shieldwall.edge.decision import CONTINUE, Block, Challenge, Decision
from shieldwall.edge.filters.shield_state import rule_from_config
from shieldwall.edge.filters.shield_zone import (
    TooManyAnswers,
    ZoneShield,
    list_free,
    whole_seconds,
)
from shieldwall.edge.pipeline import Filter, repeatable
from shieldwall.edge.services import WorkerServices
from shieldwall.ratelimit import RateLimitRule, derive_key
from shieldwall.ratelimit.limiter import Limiter

__all__ = ["PER_IP_POLICY", "build_ratelimit"]

PER_IP_POLICY: Final = "edge-per-ip"
_DROP: Final = Block(status=0, reason="banned", rule_id=PER_IP_POLICY, close=True)
_Rule = tuple[RateLimitRule, Limiter, bool, bool, float, "dict[str, float] | None", TooManyAnswers]


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
    ban_for: dict[str, float] = {
        r.id: (r.mitigation_timeout or sh.ban_duration)
        for r in zone.security.rate_limits
        if r.action == "ban"
    }
    rules: list[_Rule] = []
    if limiter is not None:
        for rc in zone.security.rate_limits:
            rule = rule_from_config(rc, sh.ban_duration)
            only_ip = rule.by_address
            scoped = bool(rule.methods or rule.path_prefix or rule.matcher)
            ban = ban_for.get(rule.id, -1.0)
            lim = limiter.limiter(rule.id)
            held = lim.held if rule.action == "block" else None  # challenge/log look further
            answers = TooManyAnswers(rule.id, rule.requests_per_period, rule.period)
            rules.append((rule, lim, only_ip, scoped, ban, held, answers))
    flood_ban = sh.per_ip_action == "ban"
    flood_held: dict[str, float] = {} if flood is None else flood.held
    flood_answers = TooManyAnswers(PER_IP_POLICY, sh.per_ip_requests, sh.per_ip_period)
    ban_duration = sh.ban_duration

    def refuse(
        ctx: RequestContext,
        rule_id: str,
        ban: float,
        answers: TooManyAnswers,
        reset: float,
        cached: bool,
    ) -> Decision:
        """A refusal by a ``block`` rule (or the per-IP cap): drop and ban, or ``429``."""
        ctx.security_rule = rule_id
        if ban >= 0:
            ip = ctx.client_ip
            if ip == ctx.conn.peer_ip:
                if not cached:
                    state.ban(ip, ban)
                ctx.security_action, ctx.security_reason = "ban", "ratelimit"
                return _DROP
        ctx.security_action = "block"
        if cached:  # the held verdict: the same answer until its whole second ends
            rest = reset - (whole_seconds(reset) - 1)
            if ctx.repeat > rest:
                ctx.repeat = rest
        return answers.get(reset, is_api(ctx))

    flood_ban_for = ban_duration if flood_ban else -1.0

    def rate_limit(ctx: RequestContext) -> Decision:
        if ctx.security_skip and "ratelimit" in ctx.security_skip:
            return CONTINUE
        ip = ctx.client_ip
        if flood is not None:
            now = clock()
            until = flood_held.get(ip)
            if until is not None and until > now:
                return refuse(ctx, PER_IP_POLICY, flood_ban_for, flood_answers, until - now, True)
            ctx.repeat = 0.0  # counted: a repeated head must be counted again
            v = flood.hit(ip, now)
            if not v.admitted:
                return refuse(ctx, PER_IP_POLICY, flood_ban_for, flood_answers, v.reset, v.cached)
        if not rules:
            return CONTINUE
        now = rule_clock()
        for rule, lim, only_ip, scoped, ban, held, answers in rules:
            if scoped and not rule.applies(ctx):
                continue
            key = ip if only_ip else derive_key(rule.characteristics, ctx)
            if held is not None:
                until = held.get(key)
                if until is not None and until > now:
                    return refuse(ctx, rule.id, ban, answers, until - now, True)
            ctx.repeat = 0.0
            v = lim.hit(key, now)
            if v.admitted:
                continue
            if held is not None:
                return refuse(ctx, rule.id, ban, answers, v.reset, v.cached)
            d = _other(ctx, rule)
            if d is not None:
                return d
        return CONTINUE

    if all(only_ip and rule.matcher is None for rule, _, only_ip, *_ in rules):
        list_free(rate_limit)  # keys, scopes and answers read the raw head at most
    # a request that is counted says so (``ctx.repeat = 0``); a held refusal counts nothing
    # and is the same answer until its whole second to reset ends (``refuse``)
    return (repeatable(rate_limit),)


def _other(ctx: RequestContext, rule: RateLimitRule) -> Decision | None:
    """A refused verdict of a ``challenge`` or ``log`` rule (None: go on to the next rule)."""
    if rule.action == "challenge":
        if ctx.clearance_id:
            return None
        ctx.security_rule = rule.id
        return Challenge(kind="js", reason="ratelimit", rule_id=rule.id)
    if not ctx.security_action:
        ctx.security_action, ctx.security_rule = "log", rule.id
    return None
