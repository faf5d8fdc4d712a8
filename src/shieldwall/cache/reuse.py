"""May a stored response be reused for this request now? (RFC 9111 §4, §4.2.4, RFC 5861)

``evaluate`` returns the ``CacheStatus`` of reusing ``entry``:

- ``EXPIRED`` when the response says ``no-cache`` (§5.2.2.4: always validate), when a client
  directive demands it and the zone honours client directives (``no-cache``, ``Pragma:
  no-cache`` without Cache-Control (§5.4), ``max-age=N`` with age > N, ``min-fresh``), or when
  the entry is stale and no rule below allows serving it;
- ``HIT`` when fresh (``current_age < freshness_lifetime``);
- ``STALE`` when stale but within the client's ``max-stale`` (§5.2.1.2);
- ``UPDATING`` when stale but within ``stale-while-revalidate`` (RFC 5861 §3): serve it and
  refresh in the background.

Stale serving is forbidden by ``must-revalidate``, ``proxy-revalidate`` and ``s-maxage`` (which
carries proxy-revalidate semantics for shared caches, §5.2.2.10) — §4.2.4.

``stale_if_error_ok`` answers the edge's question when the origin failed (5xx or unreachable):
serve the stale entry for up to ``stale-if-error`` seconds of staleness (RFC 5861 §4), or the
zone's ``default_stale_if_error``, unless a directive forbids stale serving.
"""

from __future__ import annotations

from shieldwall.cache._fields import Headers, get_all
from shieldwall.cache.config import CachePolicy
from shieldwall.cache.directives import CacheControl, parse_cache_control
from shieldwall.cache.entry import CacheEntry
from shieldwall.cache.freshness import Freshness, current_age, freshness_lifetime
from shieldwall.cache.status import CacheStatus

__all__ = ["client_directives", "evaluate", "stale_if_error_ok"]


def client_directives(headers: Headers) -> CacheControl:
    """Request directives; ``Pragma: no-cache`` counts only without Cache-Control (§5.4)."""
    lines = get_all(headers, b"cache-control")
    if lines:
        return parse_cache_control(lines)
    if any(b"no-cache" in p.lower() for p in get_all(headers, b"pragma")):
        return CacheControl(no_cache=True)
    return CacheControl()


def _stale_forbidden(fresh: Freshness) -> bool:
    cc = fresh.directives
    return cc.must_revalidate or cc.proxy_revalidate or cc.s_maxage is not None or cc.no_cache


def evaluate(
    entry: CacheEntry, req_headers: Headers, policy: CachePolicy, now: float
) -> CacheStatus:
    fresh = freshness_lifetime(entry.status, entry.headers, entry.date, policy)
    if fresh.directives.no_cache:
        return CacheStatus.EXPIRED
    age = current_age(entry, now)
    req = client_directives(req_headers)
    if policy.honour_client_no_cache:
        if req.no_cache:
            return CacheStatus.EXPIRED
        if req.max_age is not None and age > req.max_age and req.max_stale is None:
            return CacheStatus.EXPIRED
        if req.min_fresh is not None and fresh.lifetime - age < req.min_fresh:
            return CacheStatus.EXPIRED
    if age < fresh.lifetime:
        return CacheStatus.HIT
    if _stale_forbidden(fresh):
        return CacheStatus.EXPIRED
    staleness = age - fresh.lifetime
    if policy.honour_client_max_stale and req.max_stale is not None and staleness <= req.max_stale:
        return CacheStatus.STALE
    swr = fresh.directives.stale_while_revalidate
    if swr is not None and staleness <= swr:
        return CacheStatus.UPDATING
    return CacheStatus.EXPIRED


def stale_if_error_ok(entry: CacheEntry, policy: CachePolicy, now: float) -> bool:
    """May ``entry`` be served because the origin failed?"""
    fresh = freshness_lifetime(entry.status, entry.headers, entry.date, policy)
    if _stale_forbidden(fresh):
        return False
    staleness = current_age(entry, now) - fresh.lifetime
    window = fresh.directives.stale_if_error
    limit = float(window) if window is not None else policy.default_stale_if_error
    return staleness <= limit
