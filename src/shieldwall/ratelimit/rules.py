"""Rate-limit rules: which requests a rule counts, and what forms the counting key.

A rule counts a request when every given condition holds: its method is in ``methods`` (empty:
any), its path starts with ``path_prefix`` (empty: any) and ``matcher`` (a compiled rules-language
expression, later) returns true. The key is the tuple of the rule's characteristics, e.g. client IP
alone, or IP /24 prefix + User-Agent header. Characteristics (Cloudflare's "counting
characteristics"):

- ``ip``          the effective client address (``ctx.client_ip``)
- ``ip_prefix``   the client's IPv4 /24 or IPv6 /64 network: one counter per subnet
- ``header``      the value of request header ``name`` (missing: empty, shared by all)
- ``cookie``      the value of cookie ``name``
- ``clearance``   the id of a verified clearance cookie (``ctx.clearance_id``)
- ``ja4``         the TLS ClientHello fingerprint (``ctx.conn.ja4``)
- ``zone``        the zone as a whole: one counter for every request the rule matches

Attacker-supplied parts (headers, cookies) longer than ``MAX_KEY_PART`` are replaced by a BLAKE2b
digest, so a key is short whatever the client sends; parts are joined with ``\\x1f``, which cannot
occur in a header value, so distinct tuples give distinct keys.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Final, Literal

from shieldwall.errors import ConfigError

if TYPE_CHECKING:
    from shieldwall.edge.context import RequestContext

__all__ = [
    "MAX_KEY_PART",
    "Action",
    "Algorithm",
    "Characteristic",
    "KeyPart",
    "RateLimitRule",
    "derive_key",
    "ip_prefix",
]

MAX_KEY_PART: Final = 128  # longer header/cookie values are hashed: keys stay short
_SEP: Final = "\x1f"

Action = Literal["block", "challenge", "log"]
Algorithm = Literal["sliding", "gcra"]


class Characteristic(Enum):
    IP = "ip"
    IP_PREFIX = "ip_prefix"
    HEADER = "header"
    COOKIE = "cookie"
    CLEARANCE = "clearance"
    JA4 = "ja4"
    ZONE = "zone"


@dataclass(frozen=True, slots=True)
class KeyPart:
    kind: Characteristic
    name: str = ""  # header or cookie name (header names lower-case)

    def __post_init__(self) -> None:
        needs_name = self.kind in (Characteristic.HEADER, Characteristic.COOKIE)
        if needs_name != bool(self.name):
            raise ConfigError("characteristics", f"{self.kind.value}: name is {self.name!r}")


def ip_prefix(ip: str) -> str:
    """The /24 (IPv4) or /64 (IPv6) network of ``ip`` as a short string; ``ip`` on bad input."""
    if ":" not in ip:
        head, dot, _ = ip.rpartition(".")
        return head + ".0/24" if dot else ip
    try:
        packed = ipaddress.IPv6Address(ip.split("%", 1)[0]).packed
    except ValueError:
        return ip
    v4 = ipaddress.IPv6Address(packed).ipv4_mapped
    if v4 is not None:
        return ip_prefix(str(v4))
    return packed[:8].hex() + "::/64"


def _bounded(value: bytes) -> str:
    if len(value) > MAX_KEY_PART:
        return "#" + hashlib.blake2b(value, digest_size=16).hexdigest()
    return value.decode("latin-1")


def _cookie(ctx: RequestContext, name: bytes) -> bytes:
    for k, v in ctx.headers:
        if k != b"cookie":
            continue
        for part in v.split(b";"):
            n, eq, val = part.strip().partition(b"=")
            if eq and n == name:
                return val
    return b""


def _part(p: KeyPart, ctx: RequestContext) -> str:
    k = p.kind
    if k is Characteristic.IP:
        return ctx.client_ip
    if k is Characteristic.IP_PREFIX:
        return ip_prefix(ctx.client_ip)
    if k is Characteristic.HEADER:
        return _bounded(ctx.header(p.name.encode("latin-1")) or b"")
    if k is Characteristic.COOKIE:
        return _bounded(_cookie(ctx, p.name.encode("latin-1")))
    if k is Characteristic.CLEARANCE:
        return ctx.clearance_id
    if k is Characteristic.JA4:
        return ctx.conn.ja4 or ""
    return ""  # ZONE: one key for the whole zone


def derive_key(parts: tuple[KeyPart, ...], ctx: RequestContext) -> str:
    """The counting key of ``ctx`` for a rule with characteristics ``parts``."""
    if len(parts) == 1:
        return _part(parts[0], ctx)
    return _SEP.join(_part(p, ctx) for p in parts)


@dataclass(frozen=True, slots=True)
class RateLimitRule:
    """One rate-limit rule. Validated on construction (raises ``ConfigError``)."""

    id: str
    requests_per_period: int
    period: float  # seconds
    characteristics: tuple[KeyPart, ...] = (KeyPart(Characteristic.IP),)
    mitigation_timeout: float = 0.0  # seconds a key stays blocked once over; 0: throttle only
    action: Action = "block"
    methods: frozenset[bytes] = frozenset()  # upper-case; empty = every method
    path_prefix: bytes = b""
    matcher: Callable[[RequestContext], bool] | None = field(default=None, compare=False)
    count_cache_misses_only: bool = False  # count only requests the cache did not answer
    algorithm: Algorithm = "sliding"
    key_budget: int = 100_000  # distinct keys tracked; beyond it the CLOCK evicts

    def __post_init__(self) -> None:
        where = f"rate_limits[{self.id}]"
        if not self.id:
            raise ConfigError(where, "id must not be empty")
        if self.requests_per_period < 1:
            raise ConfigError(where + ".requests_per_period", "must be >= 1")
        if not self.period > 0:
            raise ConfigError(where + ".period", "must be > 0")
        if self.mitigation_timeout < 0:
            raise ConfigError(where + ".mitigation_timeout", "must be >= 0")
        if self.key_budget < 1:
            raise ConfigError(where + ".key_budget", "must be >= 1")
        if not self.characteristics:
            raise ConfigError(where + ".characteristics", "at least one is needed")
        if self.action not in ("block", "challenge", "log"):
            raise ConfigError(where + ".action", f"unknown action {self.action!r}")
        if self.algorithm not in ("sliding", "gcra"):
            raise ConfigError(where + ".algorithm", f"unknown algorithm {self.algorithm!r}")

    @property
    def by_address(self) -> bool:
        """Keyed by the client address alone: the key is the address itself."""
        parts = self.characteristics
        return len(parts) == 1 and parts[0].kind is Characteristic.IP

    def applies(self, ctx: RequestContext) -> bool:
        if self.methods and ctx.method not in self.methods:
            return False
        if self.path_prefix and not ctx.path.startswith(self.path_prefix):
            return False
        return self.matcher is None or self.matcher(ctx)
