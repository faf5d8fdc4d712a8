"""Challenge difficulty from the zone's security level and a request's suspicion score.

Difficulty is in leading zero bits of SHA-256 (``pow.py``): each bit doubles the expected work.
Our ES5 solver does roughly 0.3-1 M hashes/s on a phone-to-laptop range, so 14 bits (~16k
hashes) is a blink, 18 bits (~260k) well under a second on a laptop, 22 bits several seconds.

``suspicion`` (0-100, from detection / threat score) adds up to ``MAX_EXTRA_BITS``; the total is
capped at ``MAX_BITS`` so a legitimate browser can always finish. The level also decides whether
a request is challenged at all, and which no-JavaScript path the page offers.
"""

from __future__ import annotations

from enum import Enum
from typing import Final, Literal

__all__ = [
    "MAX_BITS",
    "SecurityLevel",
    "challenge_threshold",
    "difficulty_for",
    "noscript_mode",
    "should_challenge",
]

MAX_BITS: Final = 22  # several seconds on a slow phone: never more
MAX_EXTRA_BITS: Final = 4  # what a maximal suspicion score adds


class SecurityLevel(Enum):
    OFF = "off"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    UNDER_ATTACK = "under_attack"


_BASE_BITS: Final = {
    SecurityLevel.OFF: 0,
    SecurityLevel.LOW: 12,
    SecurityLevel.MEDIUM: 14,
    SecurityLevel.HIGH: 16,
    SecurityLevel.UNDER_ATTACK: 18,
}

# suspicion at or above which a request is challenged (None: never; 0: always)
_THRESHOLD: Final[dict[SecurityLevel, int | None]] = {
    SecurityLevel.OFF: None,
    SecurityLevel.LOW: 60,
    SecurityLevel.MEDIUM: 40,
    SecurityLevel.HIGH: 20,
    SecurityLevel.UNDER_ATTACK: 0,
}


def difficulty_for(level: SecurityLevel, suspicion: int = 0) -> int:
    if level is SecurityLevel.OFF:
        return 0
    s = min(100, max(0, suspicion))
    return min(MAX_BITS, _BASE_BITS[level] + (s * MAX_EXTRA_BITS + 99) // 100)


def challenge_threshold(level: SecurityLevel) -> int | None:
    return _THRESHOLD[level]


def should_challenge(level: SecurityLevel, suspicion: int) -> bool:
    t = _THRESHOLD[level]
    return t is not None and suspicion >= t


def noscript_mode(level: SecurityLevel) -> Literal["timelock", "explain"]:
    """Low levels let no-JS clients through after a wait; higher levels explain and stop."""
    return "timelock" if level in (SecurityLevel.OFF, SecurityLevel.LOW) else "explain"
