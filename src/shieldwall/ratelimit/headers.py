"""``RateLimit`` / ``RateLimit-Policy`` / ``Retry-After`` header values.

Format of draft-ietf-httpapi-ratelimit-headers-08 and later: both fields are Structured Field
Lists (RFC 9651) whose items are policy names (sf-string) with parameters::

    RateLimit-Policy: "per-ip";q=100;w=60     quota q requests per window of w seconds
    RateLimit:        "per-ip";r=0;t=17       r requests remaining, t seconds until reset

``Retry-After`` is delay-seconds (RFC 9110 section 10.2.3). Policy names come from config (rule
ids), never from a request; characters that an sf-string cannot hold are dropped.
"""

from __future__ import annotations

import math

from shieldwall.ratelimit.limiter import Verdict
from shieldwall.ratelimit.window import retry_after_seconds

__all__ = ["policy_value", "ratelimit_headers", "ratelimit_value"]


def _sf_string(name: str) -> str:
    clean = "".join(c for c in name if " " <= c <= "~" and c not in '"\\')
    return '"' + clean + '"'


def policy_value(name: str, limit: int, period: float) -> bytes:
    return f"{_sf_string(name)};q={limit};w={max(1, math.ceil(period))}".encode("ascii")


def ratelimit_value(name: str, verdict: Verdict) -> bytes:
    t = math.ceil(verdict.reset - 1e-9) if verdict.reset > 0 else 0
    return f"{_sf_string(name)};r={verdict.remaining};t={t}".encode("ascii")


def ratelimit_headers(
    name: str, period: float, verdict: Verdict
) -> tuple[tuple[bytes, bytes], ...]:
    """Headers for a 429 answer: Retry-After, RateLimit, RateLimit-Policy."""
    return (
        (b"retry-after", str(retry_after_seconds(verdict.reset)).encode("ascii")),
        (b"ratelimit", ratelimit_value(name, verdict)),
        (b"ratelimit-policy", policy_value(name, verdict.limit, period)),
    )
