"""Config sections of the shield: zone ``[zones.security]`` and top-level ``[shield]``.

Owned by the shield integration; decoded by ``config/schema.py`` from the type hints like every
other section (numeric fields read by the rules of ``field_rules``, merged into
``config/fields.py:FIELD_RULES``), validated by ``validate_security``.

What the sections mean at run time (``edge/filters/shield*.py``, ``edge/services.py``):

- ``[shield]`` holds what is per deployment: the state backend (``memory`` or ``redis``), the
  signing secret (empty: a random one kept in ``data_dir/shield.secret``, mode 0600), the
  edge-wide per-IP request cap and its ban, global IP access rules, GeoIP sources and the
  verified bots a zone may exempt from challenges.
- ``[zones.security]`` holds a zone's security level (``off`` .. ``under_attack``), its
  rate-limit rules, its own IP access rules and the paths treated as API or feeds.

Rule ids are unique per list; a rate-limit rule with ``action = "ban"`` bans the client IP at
accept time for ``mitigation_timeout`` (or ``[shield] ban_duration`` when 0) once over its limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # the decoder imports the model, which imports this module
    from shieldwall.config.fields import Rule
    from shieldwall.config.schema import Decoder

__all__ = [
    "IpAccessRuleConfig",
    "RateLimitRuleConfig",
    "SecurityConfig",
    "ShieldConfig",
    "VerifiedBotConfig",
    "field_rules",
    "validate_security",
]

SecurityLevelName = Literal["off", "low", "medium", "high", "under_attack"]
CHARACTERISTIC_NAMES = ("ip", "ip_prefix", "clearance", "ja4", "zone")  # + header:NAME, cookie:NAME


@dataclass(frozen=True, slots=True)
class RateLimitRuleConfig:
    """One rate-limit rule: requests that match are counted per key; over the limit, act."""

    id: str  # unique in the zone; also the RateLimit-Policy name sent to clients
    requests: int  # requests allowed per period for one key
    period: float  # length of the counting window
    # key parts: "ip", "ip_prefix", "clearance", "ja4", "zone", "header:NAME", "cookie:NAME"
    characteristics: tuple[str, ...] = ("ip",)
    action: Literal["block", "challenge", "log", "ban"] = "block"  # 429, challenge, record, ban IP
    mitigation_timeout: float = 0.0  # once over: key refused for this long (0: throttle only)
    methods: tuple[str, ...] = ()  # only these methods are counted (empty: all)
    path_prefix: str = ""  # only paths starting with this are counted (empty: all)
    algorithm: Literal["sliding", "gcra"] = "sliding"  # sliding window or GCRA (smooth) counting
    key_budget: int = 100_000  # distinct keys tracked per worker (oldest evicted beyond)


@dataclass(frozen=True, slots=True)
class IpAccessRuleConfig:
    """An IP access rule. Allow beats block beats challenge, whatever the scope."""

    id: str  # unique among the rules of its list
    mode: Literal["allow", "block", "challenge"]  # allow skips every later security check
    kind: Literal["ip", "cidr", "asn", "country"]  # what value names
    value: str  # "192.0.2.1", "2001:db8::/32", "AS64500", or an ISO country code "DE"
    note: str = ""  # free text for operators


@dataclass(frozen=True, slots=True)
class VerifiedBotConfig:
    """A crawler recognised by User-Agent *and* source network (both must match)."""

    name: str  # referred to by zones' verified_bots
    user_agent: str  # substring of the User-Agent, case-insensitive ("Googlebot")
    cidrs: tuple[str, ...]  # networks the bot crawls from (published by its operator)


@dataclass(frozen=True, slots=True)
class SecurityConfig:
    """Per-zone shield settings: security level, rate limits, IP access rules, challenges."""

    # off, low, medium, high, under_attack (every visitor without clearance is challenged)
    level: SecurityLevelName = "off"
    rate_limits: tuple[RateLimitRuleConfig, ...] = ()  # rate-limit rules, first over wins
    ip_access_rules: tuple[IpAccessRuleConfig, ...] = ()  # this zone's IP rules (+ global)
    api_paths: tuple[str, ...] = ()  # path prefixes of API clients: JSON 403/429, never HTML
    exempt_paths: tuple[str, ...] = ("/feed",)  # path prefixes never challenged (feeds)
    exempt_suffixes: tuple[str, ...] = (".rss", ".atom")  # path endings never challenged
    verified_bots: tuple[str, ...] = ("*",)  # [shield] verified bots exempt here ("*": all)
    challenge_difficulty: int | None = None  # PoW bits; default from the level (12-18)


@dataclass(frozen=True, slots=True)
class ShieldConfig:
    """Deployment-wide shield settings: state backend, global IP access rules, edge-wide caps."""

    state_backend: Literal["memory", "redis"] = "memory"  # where fleet state lives
    redis_url: str = ""  # redis://host:port/db, for state_backend = "redis"
    secret: str = ""  # signing secret, >= 32 chars; empty: data_dir/shield.secret (made 0600)
    ip_access_rules: tuple[IpAccessRuleConfig, ...] = ()  # rules applying to every zone
    per_ip_requests: int = 0  # edge-wide requests per per_ip_period per client IP (0: off)
    per_ip_period: float = 10.0  # window of the per-IP cap
    per_ip_action: Literal["block", "ban"] = "ban"  # over the cap: 429, or ban at accept
    ban_duration: float = 600.0  # how long a ban set by the per-IP cap (or a rule) lasts
    max_bans: int = 1_000_000  # bans held per worker (the soonest-expiring evicted beyond)
    geoip_country_mmdb: str | None = None  # MaxMind country DB; default: geoip2fast data
    geoip_asn_mmdb: str | None = None  # MaxMind ASN DB, needed by "asn" rules
    verified_bots: tuple[VerifiedBotConfig, ...] = ()  # crawlers zones may exempt
    clearance_ttl: float = 1800.0  # a clearance cookie's lifetime (renewed while in use)
    challenge_ttl: float = 300.0  # time to solve and redeem one challenge
    sync_interval: float = 0.5  # redis: seconds between counter delta flushes


def field_rules() -> dict[tuple[type, str], Rule]:
    """Rules of the numeric/path fields above (merged into ``FIELD_RULES`` by ``fields.py``)."""
    from shieldwall.config.fields import FilePath, _count, _duration

    day = 86400.0
    return {
        (RateLimitRuleConfig, "requests"): _count(1, 1_000_000_000),
        (RateLimitRuleConfig, "period"): _duration(0.0, day, positive=True),
        (RateLimitRuleConfig, "mitigation_timeout"): _duration(0.0, day),
        (RateLimitRuleConfig, "key_budget"): _count(1, 10_000_000),
        (SecurityConfig, "challenge_difficulty"): _count(1, 22, " bits"),
        (ShieldConfig, "per_ip_requests"): _count(0, 1_000_000_000),
        (ShieldConfig, "per_ip_period"): _duration(0.0, day, positive=True),
        (ShieldConfig, "ban_duration"): _duration(0.0, 30 * day, positive=True),
        (ShieldConfig, "max_bans"): _count(1, 100_000_000),
        (ShieldConfig, "geoip_country_mmdb"): FilePath("path to a .mmdb file", empty_is_none=True),
        (ShieldConfig, "geoip_asn_mmdb"): FilePath("path to a .mmdb file", empty_is_none=True),
        (ShieldConfig, "clearance_ttl"): _duration(60.0, 7 * day),
        (ShieldConfig, "challenge_ttl"): _duration(10.0, 3600.0),
        (ShieldConfig, "sync_interval"): _duration(0.05, 60.0),
    }


def _characteristic_ok(c: str) -> bool:
    kind, colon, name = c.partition(":")
    if colon:
        return kind in ("header", "cookie") and bool(name) and name.isascii()
    return c in CHARACTERISTIC_NAMES


def _unique_ids(ids: list[str], path: str, d: Decoder) -> None:
    seen: set[str] = set()
    for i, rid in enumerate(ids):
        if not rid:
            d.error(f"{path}[{i}].id", "must not be empty")
        elif rid in seen:
            d.error(f"{path}[{i}].id", f"duplicate id {rid!r}")
        seen.add(rid)


def validate_security(config: object, d: Decoder) -> None:
    """Cross-field checks of the shield sections (ids, characteristics, backend, bots)."""
    shield: ShieldConfig | None = getattr(config, "shield", None)
    if shield is not None and not d.failed_under("shield"):
        if shield.state_backend == "redis" and not shield.redis_url.startswith(
            ("redis://", "rediss://", "unix://")
        ):
            d.error("shield.redis_url", "state_backend = 'redis' needs redis_url = 'redis://…'")
        if shield.secret and len(shield.secret) < 32:
            d.error("shield.secret", "must be at least 32 characters (or empty: generated)")
        _unique_ids([r.id for r in shield.ip_access_rules], "shield.ip_access_rules", d)
        names = [b.name for b in shield.verified_bots]
        if len(set(names)) != len(names):
            d.error("shield.verified_bots", "bot names must be unique")
    bots = {b.name for b in shield.verified_bots} if shield is not None else set()
    for zi, zone in enumerate(getattr(config, "zones", ())):
        path = f"zones[{zi}].security"
        sec: SecurityConfig = zone.security
        if d.failed_under(path):
            continue
        _unique_ids([r.id for r in sec.rate_limits], f"{path}.rate_limits", d)
        _unique_ids([r.id for r in sec.ip_access_rules], f"{path}.ip_access_rules", d)
        for ri, rule in enumerate(sec.rate_limits):
            if not rule.characteristics:
                d.error(f"{path}.rate_limits[{ri}].characteristics", "at least one is needed")
            for ci, c in enumerate(rule.characteristics):
                if not _characteristic_ok(c):
                    d.error(
                        f"{path}.rate_limits[{ri}].characteristics[{ci}]",
                        f"unknown characteristic {c!r} (one of {', '.join(CHARACTERISTIC_NAMES)},"
                        " header:NAME, cookie:NAME)",
                    )
        for bi, name in enumerate(sec.verified_bots):
            if name != "*" and name not in bots:
                d.error(f"{path}.verified_bots[{bi}]", f"no [[shield.verified_bots]] {name!r}")
        for key in ("api_paths", "exempt_paths"):
            for pi, p in enumerate(getattr(sec, key)):
                if not p.startswith("/"):
                    d.error(f"{path}.{key}[{pi}]", f"path prefix {p!r} must start with '/'")
