"""shieldwall.challenge: proof-of-work challenges, clearance cookies, difficulty, pages.

Pure: tokens are issued and verified from keys, facts and ``now``; single use is delegated to a
``consume_once`` callable (the state backend's).
"""

from shieldwall.challenge.clearance import (
    COOKIE_NAME,
    Clearance,
    ClearanceIssuer,
    ClearanceStatus,
    set_cookie_value,
)
from shieldwall.challenge.difficulty import SecurityLevel, difficulty_for, should_challenge
from shieldwall.challenge.keys import KeyRing
from shieldwall.challenge.pages import SUBMIT_PATH, render_block_page, render_challenge
from shieldwall.challenge.pow import PowChallenger, VerifyResult

__all__ = [
    "COOKIE_NAME",
    "SUBMIT_PATH",
    "Clearance",
    "ClearanceIssuer",
    "ClearanceStatus",
    "KeyRing",
    "PowChallenger",
    "SecurityLevel",
    "VerifyResult",
    "difficulty_for",
    "render_block_page",
    "render_challenge",
    "set_cookie_value",
    "should_challenge",
]
