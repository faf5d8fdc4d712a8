"""Clearance cookies: proof that this client passed a challenge, for a while.

::

    payload = version u8 | issued u64 | expires u64 | cid 12B | binding 16B | kid_len u8 | kid
    cookie  = base64url(payload) "." base64url(HMAC(kid's secret, "clearance", zone, payload)[:16])

- **zone-bound**: the zone is inside the MAC, so a cookie from one zone fails on another;
- **client-bound**: ``binding`` is SHA-256 of the client's network (IPv4 /24, IPv6 /64: mobile
  clients move within their prefix) and User-Agent, truncated to 16 bytes; a cookie replayed
  from another network or browser fails;
- **expiring, renewable**: valid until ``expires`` (default 30 min after issue). While in use,
  ``maybe_renew`` returns a fresh cookie once more than half the lifetime has passed, keeping the
  clearance id and the first-issue time; renewal stops after ``max_lifetime``;
- **stable id**: ``cid`` (16 base64url chars) identifies the clearance across renewals; rate limits
  can key on it (``ctx.clearance_id``);
- **rotation**: the key id is in the clear; any key of the ``KeyRing`` verifies, the active one
  signs.

Attacker input is bounded: cookies longer than ``MAX_COOKIE_CHARS`` are rejected before decoding;
the MAC is checked (constant time) before any other field is trusted.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import struct
from dataclasses import dataclass
from enum import Enum
from typing import Final

from shieldwall.challenge.keys import KeyRing, b64d, b64e
from shieldwall.ratelimit.rules import ip_prefix

__all__ = [
    "COOKIE_NAME",
    "MAX_COOKIE_CHARS",
    "Clearance",
    "ClearanceIssuer",
    "ClearanceStatus",
    "set_cookie_value",
]

COOKIE_NAME: Final = "__sw_clearance"
MAX_COOKIE_CHARS: Final = 256  # a valid cookie is ~110 chars
DEFAULT_TTL: Final = 30 * 60.0
DEFAULT_MAX_LIFETIME: Final = 24 * 3600.0  # renewals stop; the client is challenged again
VERSION: Final = 1
_HEAD = struct.Struct(">BQQ12s16sB")
_MAC_BYTES: Final = 16  # truncated HMAC-SHA256 (RFC 2104 section 5: >= half the output)
_LABEL: Final = b"shieldwall-clearance-v1"


class ClearanceStatus(Enum):
    OK = "ok"
    MALFORMED = "malformed"
    BAD_SIGNATURE = "bad_signature"
    EXPIRED = "expired"
    WRONG_CLIENT = "wrong_client"


@dataclass(frozen=True, slots=True)
class Clearance:
    status: ClearanceStatus
    clearance_id: str = ""
    issued: int = 0
    expires: int = 0

    @property
    def ok(self) -> bool:
        return self.status is ClearanceStatus.OK


def _binding(client_ip: str, user_agent: bytes) -> bytes:
    h = hashlib.sha256(b"shieldwall-bind\x00" + ip_prefix(client_ip).encode() + b"\x00")
    h.update(user_agent[:1024])
    return h.digest()[:16]


class ClearanceIssuer:
    def __init__(
        self,
        keys: KeyRing,
        ttl: float = DEFAULT_TTL,
        max_lifetime: float = DEFAULT_MAX_LIFETIME,
    ) -> None:
        self.keys = keys
        self.ttl = ttl
        self.max_lifetime = max_lifetime

    def _encode(self, zone: str, issued: int, expires: int, cid: bytes, binding: bytes) -> str:
        kid = self.keys.active
        payload = _HEAD.pack(VERSION, issued, expires, cid, binding, len(kid)) + kid.encode()
        mac = self.keys.sign(kid, _LABEL, zone, payload)
        assert mac is not None
        return b64e(payload) + "." + b64e(mac[:_MAC_BYTES])

    def issue(self, zone: str, client_ip: str, user_agent: bytes, now: float) -> str:
        return self._encode(
            zone,
            int(now),
            int(now + self.ttl),
            secrets.token_bytes(12),
            _binding(client_ip, user_agent),
        )

    def _decode(
        self, cookie: str, zone: str
    ) -> tuple[ClearanceStatus, tuple[int, int, bytes, bytes] | None]:
        if len(cookie) > MAX_COOKIE_CHARS or cookie.count(".") != 1:
            return ClearanceStatus.MALFORMED, None
        p64, m64 = cookie.split(".")
        payload, mac = b64d(p64), b64d(m64)
        if payload is None or mac is None or len(payload) < _HEAD.size or len(mac) != _MAC_BYTES:
            return ClearanceStatus.MALFORMED, None
        version, issued, expires, cid, binding, kid_len = _HEAD.unpack_from(payload)
        kid_raw = payload[_HEAD.size :]
        if version != VERSION or len(kid_raw) != kid_len or not kid_raw.isascii():
            return ClearanceStatus.MALFORMED, None
        expected = self.keys.sign(kid_raw.decode("ascii"), _LABEL, zone, payload)
        if expected is None or not hmac.compare_digest(expected[:_MAC_BYTES], mac):
            return ClearanceStatus.BAD_SIGNATURE, None
        return ClearanceStatus.OK, (issued, expires, cid, binding)

    def verify(
        self, cookie: str, zone: str, client_ip: str, user_agent: bytes, now: float
    ) -> Clearance:
        status, fields = self._decode(cookie, zone)
        if fields is None:
            return Clearance(status)
        issued, expires, cid, binding = fields
        if now >= expires:
            return Clearance(ClearanceStatus.EXPIRED, b64e(cid), issued, expires)
        if not hmac.compare_digest(binding, _binding(client_ip, user_agent)):
            return Clearance(ClearanceStatus.WRONG_CLIENT, "", issued, expires)
        return Clearance(ClearanceStatus.OK, b64e(cid), issued, expires)

    def maybe_renew(
        self, cookie: str, zone: str, client_ip: str, user_agent: bytes, now: float
    ) -> str | None:
        """A fresh cookie when ``cookie`` is valid and past half its life; else None."""
        c = self.verify(cookie, zone, client_ip, user_agent, now)
        if not c.ok:
            return None
        half_life = (c.expires - c.issued if c.expires - c.issued < self.ttl else self.ttl) / 2
        if now < c.expires - half_life:
            return None
        if now + self.ttl > c.issued + self.max_lifetime:
            return None
        cid = b64d(c.clearance_id)
        assert cid is not None
        return self._encode(
            zone, c.issued, int(now + self.ttl), cid, _binding(client_ip, user_agent)
        )


def set_cookie_value(cookie: str, ttl: float, secure: bool) -> bytes:
    """The ``Set-Cookie`` value (RFC 6265): host-only, HttpOnly, SameSite=Lax."""
    attrs = f"{COOKIE_NAME}={cookie}; Path=/; Max-Age={int(ttl)}; HttpOnly; SameSite=Lax"
    return (attrs + ("; Secure" if secure else "")).encode("ascii")
