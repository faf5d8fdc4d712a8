"""Signing keys with ids, for rotation, and the small encoding helpers tokens share.

A ``KeyRing`` holds ``{kid: secret}`` and names one active kid. New tokens are signed with the
active key; verification accepts any known kid, so a rotation is: add the new key, make it active,
remove the old one after the longest token lifetime. Secrets are at least ``MIN_SECRET_BYTES``.

Tokens are ``base64url(payload) "." base64url(mac)`` without padding (RFC 4648 section 5). MACs are
HMAC-SHA256 (RFC 2104) over a purpose label, the zone and the payload, so a token for one purpose
or zone never verifies for another. Comparisons use ``hmac.compare_digest``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping
from typing import Final

from shieldwall.errors import ConfigError

__all__ = ["MIN_SECRET_BYTES", "KeyRing", "b64d", "b64e"]

MIN_SECRET_BYTES: Final = 32
MAX_KID_CHARS: Final = 16


def b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64d(text: str) -> bytes | None:
    """Decode unpadded base64url; None on any malformed input (never raises)."""
    try:
        raw = text.encode("ascii")
    except UnicodeEncodeError:
        return None
    if len(raw) % 4 == 1 or not all(c in _B64URL for c in raw):
        return None
    try:
        return base64.urlsafe_b64decode(raw + b"=" * (-len(raw) % 4))
    except (binascii.Error, ValueError):
        return None


_B64URL: Final = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


class KeyRing:
    def __init__(self, keys: Mapping[str, bytes], active: str) -> None:
        if active not in keys:
            raise ConfigError("challenge.keys", f"active key id {active!r} is not in the ring")
        for kid, secret in keys.items():
            if not kid or len(kid) > MAX_KID_CHARS or not kid.isascii() or not kid.isalnum():
                raise ConfigError("challenge.keys", f"key id {kid!r}: 1-16 ASCII letters/digits")
            if len(secret) < MIN_SECRET_BYTES:
                raise ConfigError("challenge.keys", f"key {kid!r}: secret shorter than 32 bytes")
        self._keys = dict(keys)
        self.active = active

    def sign(self, kid: str, label: bytes, zone: str, payload: bytes) -> bytes | None:
        """HMAC of (label, zone, payload) with key ``kid``; None for an unknown kid."""
        secret = self._keys.get(kid)
        if secret is None:
            return None
        z = zone.encode("utf-8")
        msg = label + b"\x00" + len(z).to_bytes(2, "big") + z + payload
        return hmac.new(secret, msg, hashlib.sha256).digest()
