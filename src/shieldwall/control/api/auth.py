"""API tokens: format, hashing and the authorisation decision (pure; storage is ``store``).

A token reads ``swt_<id>_<secret>``: ``id`` (12 hex digits) is public -- it names the token in
the audit log and the API -- and ``secret`` is 32 random bytes (base64url). Only
``sha256(secret)`` is stored: the secret has 256 bits of entropy, so a slow password hash (scrypt)
would add cost without adding safety; the comparison is constant-time.

Scopes: a token is either deployment-wide (``zones is None``) or limited to a set of zone
names, and either read-write or ``read_only``. ``authorize`` is the whole policy:

======== ===================================================================
access   who may call
======== ===================================================================
public   anyone (abuse intake, OpenAPI document)
read     any valid token; a ``{zone}`` in the path must be within its zones
write    a token that is not read-only; same zone check
admin    a deployment-wide, writable token (tokens, legal orders, versions)
======== ===================================================================
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass

from shieldwall.control.api.types import Access, HttpError

__all__ = ["Token", "authorize", "hash_secret", "new_token", "parse_token", "verify"]

_TOKEN = re.compile(r"swt_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")
MAX_AUTH_HEADER = 256  # longer Authorization headers are not ours


@dataclass(frozen=True, slots=True)
class Token:
    id: str
    name: str
    zones: frozenset[str] | None  # None: every zone (deployment-wide)
    read_only: bool
    secret_hash: str = ""  # hex sha256 of the secret

    def can_see(self, zone: str) -> bool:
        return self.zones is None or zone in self.zones

    def describe(self) -> dict[str, object]:
        return {
            "id": self.id,
            "name": self.name,
            "zones": sorted(self.zones) if self.zones is not None else None,
            "read_only": self.read_only,
        }


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_token() -> tuple[str, str, str]:
    """A fresh ``(token_id, full_token_text, secret_hash)``."""
    token_id = secrets.token_hex(6)
    secret = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
    return token_id, f"swt_{token_id}_{secret}", hash_secret(secret)


def parse_token(header: str | None) -> tuple[str, str] | None:
    """``Authorization: Bearer swt_...`` -> ``(id, secret)``; None when absent/malformed."""
    if not header or len(header) > MAX_AUTH_HEADER:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    m = _TOKEN.fullmatch(value.strip())
    return (m.group(1), m.group(2)) if m else None


def verify(token: Token, secret: str) -> bool:
    return hmac.compare_digest(token.secret_hash, hash_secret(secret))


def authorize(token: Token | None, access: Access, zone: str | None) -> None:
    """Raise ``HttpError`` 401/403 unless ``token`` may call a route of ``access`` on ``zone``."""
    if access == "public":
        return
    if token is None:
        raise HttpError(
            401, "a valid API token is required", headers=[("WWW-Authenticate", "Bearer")]
        )
    if access in ("write", "admin") and token.read_only:
        raise HttpError(403, f"token {token.id} is read-only")
    if access == "admin" and token.zones is not None:
        raise HttpError(403, f"token {token.id} is limited to zones; this needs a deployment token")
    if zone is not None and not token.can_see(zone):
        raise HttpError(403, f"token {token.id} is not allowed on zone {zone!r}")
