"""Freshness lifetime and age (RFC 9111 §4.2), pure arithmetic over an entry and ``now``.

Freshness lifetime (§4.2.1), for a shared cache, first match wins:

1. ``s-maxage``; 2. ``max-age``; 3. ``Expires - Date``; 4. heuristic (§4.2.2).

The directives come from the winning targeted field (RFC 9213) or ``Cache-Control``; when a
targeted field wins, ``Expires`` is ignored. Invalid or conflicting values are stale (see
``directives``). Several ``Expires`` lines with different values, or an invalid one (``0``),
mean "already expired" (§5.3).

Heuristic freshness applies only without explicit freshness, only to heuristically cacheable
statuses (or ``public`` responses), and only with a ``Last-Modified`` older than ``Date``:
``fraction * (Date - Last-Modified)`` capped at ``heuristic_max``.

Age (§4.2.3)::

    apparent_age          = max(0, response_time - date_value)
    response_delay        = response_time - request_time
    corrected_age_value   = age_value + response_delay
    corrected_initial_age = max(apparent_age, corrected_age_value)
    resident_time         = now - response_time
    current_age           = corrected_initial_age + resident_time
"""

from __future__ import annotations

from dataclasses import dataclass

from shieldwall.cache._fields import Headers, get_all, get_first, parse_http_date
from shieldwall.cache.config import HEURISTIC_STATUSES, CachePolicy
from shieldwall.cache.directives import MAX_DELTA, CacheControl, select_response_directives
from shieldwall.cache.entry import CacheEntry

__all__ = [
    "Freshness",
    "corrected_initial_age",
    "current_age",
    "date_value",
    "freshness_lifetime",
    "parse_age",
    "remaining_ttl",
]


@dataclass(frozen=True, slots=True)
class Freshness:
    lifetime: float  # seconds; 0 = stale on arrival
    source: str  # "s-maxage" | "max-age" | "expires" | "heuristic" | "none"
    directives: CacheControl
    targeted: bool  # directives came from a targeted field (RFC 9213)

    @property
    def explicit(self) -> bool:
        return self.source in ("s-maxage", "max-age", "expires")


def date_value(headers: Headers, response_time: float) -> float:
    """The response's ``Date``, or ``response_time`` when absent or invalid (RFC 9110 §6.6.1)."""
    date = parse_http_date(get_first(headers, b"date"))
    return response_time if date is None else date


def parse_age(value: bytes | None) -> float:
    """``Age`` header (delta-seconds); invalid -> 0 (we cannot trust it to add age)."""
    if value is None:
        return 0.0
    v = value.strip()
    if not v.isdigit():
        return 0.0
    return float(min(int(v), MAX_DELTA))


def freshness_lifetime(
    status: int, headers: Headers, date: float, policy: CachePolicy
) -> Freshness:
    cc, targeted = select_response_directives(headers, policy.targeted_fields)
    if cc.s_maxage is not None:
        return Freshness(float(cc.s_maxage), "s-maxage", cc, targeted)
    if cc.max_age is not None:
        return Freshness(float(cc.max_age), "max-age", cc, targeted)
    if not targeted:
        expires_lines = get_all(headers, b"expires")
        if expires_lines:
            if len(set(expires_lines)) > 1:
                return Freshness(0.0, "expires", cc, targeted)
            expires = parse_http_date(expires_lines[0])
            if expires is None:
                return Freshness(0.0, "expires", cc, targeted)
            return Freshness(max(0.0, expires - date), "expires", cc, targeted)
    if status in HEURISTIC_STATUSES or cc.public:
        last_modified = parse_http_date(get_first(headers, b"last-modified"))
        if last_modified is not None and last_modified < date:
            lifetime = min((date - last_modified) * policy.heuristic_fraction, policy.heuristic_max)
            return Freshness(lifetime, "heuristic", cc, targeted)
    return Freshness(0.0, "none", cc, targeted)


def corrected_initial_age(
    request_time: float, response_time: float, date: float, age_value: float
) -> float:
    apparent_age = max(0.0, response_time - date)
    response_delay = max(0.0, response_time - request_time)
    return max(apparent_age, age_value + response_delay)


def current_age(entry: CacheEntry, now: float) -> float:
    initial = corrected_initial_age(
        entry.request_time, entry.response_time, entry.date, entry.age_value
    )
    return initial + max(0.0, now - entry.response_time)


def remaining_ttl(entry: CacheEntry, now: float, policy: CachePolicy) -> float:
    """Freshness left (negative when stale)."""
    fresh = freshness_lifetime(entry.status, entry.headers, entry.date, policy)
    return fresh.lifetime - current_age(entry, now)
