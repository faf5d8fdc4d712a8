"""Stateless proof-of-work challenges, signed with HMAC-SHA256.

A challenge token carries everything needed to check an answer, so the edge keeps no state per
challenge issued (an attacker can ask for millions)::

    payload = version u8 | difficulty u8 | issued u64 | expires u64 | nonce 16B | kid | zone
    token   = base64url(payload) "." base64url(HMAC(kid's secret, "pow", zone, payload))

The work: find a decimal ``solution`` such that ``SHA-256(token || solution)`` (both ASCII) starts
with at least ``difficulty`` zero bits. Expected cost ``2**difficulty`` hashes; checking costs one.

Verification order (cheapest first, and no oracle for forgeries): length caps and parsing ->
signature (constant-time) -> zone -> expiry -> work -> single use. Single use is delegated to a
``consume_once(token_id, ttl) -> bool`` callable (the state backend's), keyed by the nonce, so a
solved token is redeemed once per fleet; its record only needs to live until the token expires.

A ``time-lock`` redemption (``verify_timelock``) serves clients without JavaScript at low
security levels: the token is accepted without work once ``min_wait`` seconds have passed since
it was issued (``<noscript>`` meta refresh in ``pages.py``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import Enum
from typing import Final

from shieldwall.challenge.keys import KeyRing, b64d, b64e

__all__ = [
    "MAX_SOLUTION_CHARS",
    "MAX_TOKEN_CHARS",
    "ParsedToken",
    "PowChallenger",
    "VerifyResult",
    "leading_zero_bits",
]

VERSION: Final = 1
MAX_TOKEN_CHARS: Final = 600  # longest token we parse (zone names are <= 253 bytes)
MAX_SOLUTION_CHARS: Final = 20  # decimal digits of a u64
MAX_DIFFICULTY: Final = 32
DEFAULT_TTL: Final = 300.0  # seconds a challenge may take to solve and redeem
_HEAD = struct.Struct(">BBQQ16sB")  # version, difficulty, issued, expires, nonce, kid length
_LABEL: Final = b"shieldwall-pow-v1"


class VerifyResult(Enum):
    OK = "ok"
    MALFORMED = "malformed"
    BAD_SIGNATURE = "bad_signature"
    WRONG_ZONE = "wrong_zone"
    EXPIRED = "expired"
    INSUFFICIENT_WORK = "insufficient_work"
    TOO_EARLY = "too_early"  # time-lock redeemed before its wait was over
    REPLAYED = "replayed"


@dataclass(frozen=True, slots=True)
class ParsedToken:
    difficulty: int
    issued: int
    expires: int
    nonce: bytes
    kid: str
    zone: str

    @property
    def token_id(self) -> str:
        """The single-use record's key: one per issued challenge (its nonce)."""
        return "pow:" + self.nonce.hex()

    def record_ttl(self, now: float) -> float:
        """How long the single-use record must live: until the token can no longer verify."""
        return max(1.0, self.expires - now + 1)


def leading_zero_bits(digest: bytes) -> int:
    n = 0
    for byte in digest:
        if byte:
            return n + 8 - byte.bit_length()
        n += 8
    return n


def _parse(token: str) -> tuple[ParsedToken, bytes, bytes] | None:
    if len(token) > MAX_TOKEN_CHARS or token.count(".") != 1:
        return None
    p64, m64 = token.split(".")
    payload, mac = b64d(p64), b64d(m64)
    if payload is None or mac is None or len(payload) < _HEAD.size or len(mac) != 32:
        return None
    version, diff, issued, expires, nonce, kid_len = _HEAD.unpack_from(payload)
    rest = payload[_HEAD.size :]
    if version != VERSION or kid_len > len(rest) or diff > MAX_DIFFICULTY:
        return None
    try:
        kid = rest[:kid_len].decode("ascii")
        zone = rest[kid_len:].decode("utf-8")
    except UnicodeDecodeError:
        return None
    return ParsedToken(diff, issued, expires, nonce, kid, zone), payload, mac


class PowChallenger:
    def __init__(self, keys: KeyRing, ttl: float = DEFAULT_TTL) -> None:
        self.keys = keys
        self.ttl = ttl

    def issue(self, zone: str, difficulty: int, now: float) -> str:
        if not 0 <= difficulty <= MAX_DIFFICULTY:
            raise ValueError(f"difficulty must be 0..{MAX_DIFFICULTY}")
        kid = self.keys.active
        head = _HEAD.pack(
            VERSION,
            difficulty,
            int(now),
            int(now + self.ttl),
            secrets.token_bytes(16),
            len(kid),
        )
        payload = head + kid.encode("ascii") + zone.encode("utf-8")
        mac = self.keys.sign(kid, _LABEL, zone, payload)
        assert mac is not None  # the active kid is always in the ring
        return b64e(payload) + "." + b64e(mac)

    def check(
        self, token: str, solution: str | None, zone: str, now: float, min_wait: float = 0.0
    ) -> tuple[VerifyResult, ParsedToken | None]:
        """Everything but single use. ``solution=None`` checks a time-lock instead of work."""
        parsed = _parse(token)
        if parsed is None:
            return VerifyResult.MALFORMED, None
        t, payload, mac = parsed
        expected = self.keys.sign(t.kid, _LABEL, t.zone, payload)
        if expected is None or not hmac.compare_digest(expected, mac):
            return VerifyResult.BAD_SIGNATURE, None
        if not hmac.compare_digest(t.zone.encode("utf-8"), zone.encode("utf-8")):
            return VerifyResult.WRONG_ZONE, t
        if now >= t.expires:
            return VerifyResult.EXPIRED, t
        if solution is None:
            if now < t.issued + min_wait:
                return VerifyResult.TOO_EARLY, t
            return VerifyResult.OK, t
        if not (0 < len(solution) <= MAX_SOLUTION_CHARS and solution.isascii()):
            return VerifyResult.MALFORMED, t
        if not solution.isdigit():
            return VerifyResult.MALFORMED, t
        digest = hashlib.sha256((token + solution).encode("ascii")).digest()
        if leading_zero_bits(digest) < t.difficulty:
            return VerifyResult.INSUFFICIENT_WORK, t
        return VerifyResult.OK, t

    def verify(
        self,
        token: str,
        solution: str,
        zone: str,
        now: float,
        consume_once: Callable[[str, float], bool] | None = None,
    ) -> VerifyResult:
        """Check an answer; with ``consume_once``, also redeem the token (once only)."""
        result, t = self.check(token, solution, zone, now)
        return self._redeem(result, t, now, consume_once)

    def verify_timelock(
        self,
        token: str,
        zone: str,
        now: float,
        min_wait: float,
        consume_once: Callable[[str, float], bool] | None = None,
    ) -> VerifyResult:
        result, t = self.check(token, None, zone, now, min_wait)
        return self._redeem(result, t, now, consume_once)

    async def averify(
        self,
        token: str,
        solution: str,
        zone: str,
        now: float,
        consume_once: Callable[[str, float], Awaitable[bool]],
    ) -> VerifyResult:
        """``verify`` with an async ``consume_once`` (``StateBackend.consume_once``)."""
        result, t = self.check(token, solution, zone, now)
        if result is not VerifyResult.OK or t is None:
            return result
        ok = await consume_once(t.token_id, t.record_ttl(now))
        return VerifyResult.OK if ok else VerifyResult.REPLAYED

    @staticmethod
    def _redeem(
        result: VerifyResult,
        t: ParsedToken | None,
        now: float,
        consume_once: Callable[[str, float], bool] | None,
    ) -> VerifyResult:
        if result is not VerifyResult.OK or t is None or consume_once is None:
            return result
        if not consume_once(t.token_id, t.record_ttl(now)):
            return VerifyResult.REPLAYED
        return VerifyResult.OK
