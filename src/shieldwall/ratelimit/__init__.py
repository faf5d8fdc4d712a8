"""shieldwall.ratelimit: sliding-window / GCRA rate limits over bounded key tables.

Pure arithmetic that takes ``now`` (``window``), a compact bounded table (``table``), per-rule
limiters with a blocked-verdict cache (``limiter``), the rule model (``rules``) and the
``request_headers`` filter (``filter``).
"""

from shieldwall.ratelimit.filter import RateLimiter, build_filter
from shieldwall.ratelimit.limiter import GcraLimiter, SharedCounter, SlidingWindowLimiter, Verdict
from shieldwall.ratelimit.rules import Characteristic, KeyPart, RateLimitRule, derive_key
from shieldwall.ratelimit.table import KeyTable

__all__ = [
    "Characteristic",
    "GcraLimiter",
    "KeyPart",
    "KeyTable",
    "RateLimitRule",
    "RateLimiter",
    "SharedCounter",
    "SlidingWindowLimiter",
    "Verdict",
    "build_filter",
    "derive_key",
]
