"""Rate arithmetic: the two-window sliding estimate and GCRA. Pure functions of counts and ``now``.

Sliding window (the estimate Cloudflare describes in "How we built rate limiting capable of
scaling to millions of domains"): time is cut into fixed windows of ``period`` seconds, window
``w = floor(now / period)``. Only two counters are kept per key, the previous window's and the
current one's, and the rate over the last ``period`` seconds is estimated by assuming the previous
window's requests were spread evenly::

    elapsed = now - w * period                      # 0 <= elapsed < period
    rate    = prev * (1 - elapsed / period) + curr

A request is admitted while ``rate`` (counting the request itself) is ``<= limit``. The estimate
is exact for uniform traffic and errs by at most ``prev`` at a window boundary for bursty traffic.

GCRA (generic cell rate algorithm, ATM Forum TM 4.0; the "virtual scheduling" form): each key keeps
one number, the theoretical arrival time ``tat``. With emission interval ``T = period / limit`` and
burst tolerance ``tau = period - T`` a request at ``now`` is admitted iff ``max(tat, now) - now <=
tau``; admitting it moves ``tat`` to ``max(tat, now) + T``. It allows a burst of ``limit`` requests
and then one every ``T`` seconds, with no window boundary effects.

Every function here is total: no I/O, no clock, no mutation.
"""

from __future__ import annotations

import math

__all__ = [
    "gcra_check",
    "retry_after_seconds",
    "sliding_estimate",
    "sliding_wait",
    "window_index",
]


def window_index(now: float, period: float) -> int:
    """The fixed window ``now`` falls in."""
    return int(now // period)


def sliding_estimate(prev: int, curr: int, now: float, period: float) -> float:
    """Estimated requests in the last ``period`` seconds (see module docstring)."""
    elapsed = now - (now // period) * period
    return prev * (1.0 - elapsed / period) + curr


def sliding_wait(prev: int, curr: int, now: float, period: float, limit: int) -> float:
    """Seconds from ``now`` until one more request would be admitted, if no other arrives.

    0 when a request would be admitted now. Used for ``Retry-After`` and the ``t`` parameter of
    the ``RateLimit`` header.
    """
    elapsed = now - (now // period) * period
    if prev * (1.0 - elapsed / period) + curr + 1 <= limit:
        return 0.0
    if curr + 1 <= limit:
        # still this window: wait until the previous window's share has decayed enough
        need_elapsed = period * (1.0 - (limit - curr - 1) / prev)
        return max(0.0, need_elapsed - elapsed)
    # next window: this window's count becomes the decaying "prev"
    to_next = period - elapsed
    share = period * (1.0 - (limit - 1) / curr) if curr > 0 else 0.0
    return to_next + max(0.0, share)


def gcra_check(tat: float, now: float, period: float, limit: int) -> tuple[bool, float, float]:
    """One GCRA step. Returns ``(admitted, new_tat, wait)``.

    ``tat`` is the stored theoretical arrival time (0 for a new key). ``new_tat`` equals ``tat``
    when the request is refused (refused requests are not counted). ``wait`` is the seconds until
    a request would be admitted (0 when admitted).
    """
    interval = period / limit
    base = tat if tat > now else now
    new_tat = base + interval
    if new_tat - now <= period + 1e-9:
        return True, new_tat, 0.0
    return False, tat, new_tat - period - now


def retry_after_seconds(wait: float) -> int:
    """``Retry-After`` delay-seconds (RFC 9110 section 10.2.3): a whole number, at least 1."""
    return max(1, math.ceil(wait - 1e-9))
