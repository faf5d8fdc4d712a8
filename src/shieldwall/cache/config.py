"""Per-zone cache policy knobs (frozen; compiled once per config version).

Every field says why it exists. Defaults are a conservative shared cache: RFC 9111 semantics,
client ``no-cache`` ignored (a CDN must not let any visitor force origin traffic), responses
with ``Set-Cookie`` and error statuses not stored, cache-deception armor on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from shieldwall.errors import ConfigError

__all__ = ["HEURISTIC_STATUSES", "UNDERSTOOD_STATUSES", "CachePolicy"]

# RFC 9110 §15.1: statuses cacheable by default (heuristic freshness allowed, RFC 9111 §4.2.2).
HEURISTIC_STATUSES: frozenset[int] = frozenset(
    {200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501}
)
# Statuses whose caching semantics this cache implements (RFC 9111 §3, must-understand).
UNDERSTOOD_STATUSES: frozenset[int] = HEURISTIC_STATUSES | frozenset(
    {302, 303, 307, 400, 403, 500, 502, 503, 504}
)


@dataclass(frozen=True, slots=True)
class CachePolicy:
    """How one zone's cache behaves. Pure data; see ``policy.py`` for the semantics."""

    # RFC 9213 target list, highest precedence first; the first present+valid field wins.
    targeted_fields: tuple[bytes, ...] = (b"cdn-cache-control",)
    # Heuristic freshness: fraction of (Date - Last-Modified), capped (RFC 9111 §4.2.2).
    heuristic_fraction: float = 0.1
    heuristic_max: float = 86_400.0
    # Request no-cache / max-age / min-fresh from clients force origin traffic: opt-in.
    honour_client_no_cache: bool = False
    # Request max-stale only loosens (never loads the origin); honoured unless turned off.
    honour_client_max_stale: bool = True
    # Responses carrying Set-Cookie: not stored, stored without the cookie, or stored as-is.
    set_cookie: Literal["bypass", "strip", "store"] = "bypass"
    # Store 4xx/5xx responses (when RFC-storable). Off: an error is never pinned in cache.
    store_error_statuses: bool = False
    # Refuse to store when the URL's extension contradicts the Content-Type (cache deception).
    deception_armor: bool = True
    # Larger bodies are streamed through and never stored.
    max_object_bytes: int = 16 * 1024 * 1024
    # Serve stale this long on origin errors even without stale-if-error (0 = only when told).
    default_stale_if_error: float = 0.0
    # Statuses this cache understands (must-understand, 206/304 rules).
    understood_statuses: frozenset[int] = field(default=UNDERSTOOD_STATUSES)

    def __post_init__(self) -> None:
        if not 0.0 <= self.heuristic_fraction <= 1.0:
            raise ConfigError("cache.heuristic_fraction", "must be within [0, 1]")
        if self.heuristic_max < 0:
            raise ConfigError("cache.heuristic_max", "must be >= 0")
        if self.max_object_bytes < 0:
            raise ConfigError("cache.max_object_bytes", "must be >= 0")
        if self.default_stale_if_error < 0:
            raise ConfigError("cache.default_stale_if_error", "must be >= 0")
        if self.set_cookie not in ("bypass", "strip", "store"):
            raise ConfigError("cache.set_cookie", "must be bypass, strip or store")
        if any(n != n.lower() for n in self.targeted_fields):
            raise ConfigError("cache.targeted_fields", "field names must be lower-case")
