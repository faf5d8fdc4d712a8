"""Per-worker shield state that outlives config versions (held by ``WorkerServices.shield``).

What lives here, and why it is not rebuilt on reload:

- **signing keys** (``KeyRing``) for challenge tokens and clearance cookies. The secret is
  ``[shield] secret`` or the contents of ``data_dir/shield.secret`` (created once, mode 0600,
  atomically via ``link`` so concurrent workers agree). With the Redis backend and no configured
  secret, the node adopts the fleet's secret (``shield:secret`` key; one node is elected to
  write it with ``consume_once``, so two nodes starting together cannot each keep their own)
  when it first reaches Redis; ``start`` waits for that attempt (bounded), so a cookie issued by
  one node verifies on every node. The local key stays in the ring for verification, so
  cookies issued before the switch keep working.
- **single use** of solved challenges: a bounded local store (``MemoryBackend``; fails closed
  when full). With Redis, redemption is exactly once per fleet through a claim and one extra
  client round trip (``shield_fleet.py`` states the guarantee and its outage fallback).
- **the fleet link** (``shield_fleet.FleetLink``, Redis only): bans published to and received
  from other nodes, claims; one ``BackendHealth`` per worker, shared with the counter sync, so
  an outage is logged once.
- **rate-limit counters**: a ``RateLimiter`` per (zone, rules) is reused across reloads while the
  zone's rules are unchanged; with Redis they count through ``SyncedCounters`` (batched deltas,
  local decisions while Redis is down).
- **the edge-wide per-IP cap**: one limiter keyed by client IP (``[shield] per_ip_requests``).
- **the compiled IP access rules and the GeoIP lookup**, per config version (the geoip2fast
  data is loaded once per process, at provision time, only if a country rule exists).

The ban set itself is ``WorkerServices.bans`` (checked at accept); this module adds bans to it.
Clock: rate state and bans use ``services.clock`` (monotonic), tokens and cookies
``services.wall_clock``; with Redis, rate counters use wall time (a time base shared by nodes).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from shieldwall.challenge import ClearanceIssuer, KeyRing, PowChallenger
from shieldwall.config.model import Config, ZoneConfig
from shieldwall.config.security import RateLimitRuleConfig, ShieldConfig
from shieldwall.edge.filters.shield_fleet import FleetLink
from shieldwall.edge.filters.shield_keys import (
    SECRET_FILE,
    derive_keyring,
    fetch_fleet_secret,
    load_secret,
)
from shieldwall.errors import ConfigError
from shieldwall.iplists import AccessMatcher, AccessRule, AccessRuleSet, BanSet
from shieldwall.iplists.geo import GeoIP2FastLookup, GeoLookup, NullGeoLookup
from shieldwall.iplists.mmdb import MmdbError, MmdbGeoLookup
from shieldwall.ratelimit import Characteristic, KeyPart, RateLimiter, RateLimitRule
from shieldwall.ratelimit.limiter import GcraLimiter, SlidingWindowLimiter
from shieldwall.state import BackendHealth, MemoryBackend, MemoryLimits, StateBackend, from_config
from shieldwall.state.sync import SyncedCounters, SyncLimits

if TYPE_CHECKING:
    from shieldwall.edge.services import WorkerServices

__all__ = ["SECRET_FILE", "ShieldState", "derive_keyring", "load_secret"]

log = logging.getLogger(__name__)

MAX_LOCAL_TOKENS: Final = 200_000  # redeemed challenge ids remembered per worker (~5 min each)
MAX_LIMITER_SETS: Final = 10_000  # cached per-zone RateLimiters (one per zone in use)
FLOOD_KEY_BUDGET: Final = 200_000  # client IPs tracked by the edge-wide per-IP cap


def rule_from_config(rc: RateLimitRuleConfig, ban_duration: float) -> RateLimitRule:
    """``RateLimitRule`` of a config rule; ``ban`` counts like ``block`` with a timeout."""
    parts: list[KeyPart] = []
    for c in rc.characteristics:
        kind, _, name = c.partition(":")
        ch = Characteristic(kind)
        parts.append(KeyPart(ch, name.lower() if ch is Characteristic.HEADER else name))
    timeout = rc.mitigation_timeout
    if rc.action == "ban" and timeout <= 0:
        timeout = ban_duration
    return RateLimitRule(
        id=rc.id,
        requests_per_period=rc.requests,
        period=rc.period,
        characteristics=tuple(parts),
        mitigation_timeout=timeout,
        action="block" if rc.action == "ban" else rc.action,
        methods=frozenset(m.upper().encode("ascii") for m in rc.methods),
        path_prefix=rc.path_prefix.encode("latin-1"),
        algorithm=rc.algorithm,
        key_budget=rc.key_budget,
    )


class _SplitGeo:
    """Country from one lookup, AS numbers from another (geoip2fast has no AS numbers)."""

    def __init__(self, country: GeoLookup, asn: GeoLookup) -> None:
        self._c, self._a = country, asn
        self.provides_country = country.provides_country
        self.provides_asn = asn.provides_asn

    def country(self, ip: str) -> str:
        return self._c.country(ip)

    def asn(self, ip: str) -> int:
        return self._a.asn(ip)

    def asn_org(self, ip: str) -> str:
        return self._a.asn_org(ip)


class ShieldState:
    """See the module docstring. ``provision(config)`` is idempotent per config object."""

    def __init__(self, services: WorkerServices) -> None:
        self.services = services
        self.bans: BanSet = services.bans
        self.config: Config | None = None
        self.shield = ShieldConfig()
        self._secret: bytes | None = None
        self.keys: KeyRing | None = None
        self.pow = PowChallenger(derive_keyring(secrets.token_bytes(32)))
        self.clearance = ClearanceIssuer(self.pow.keys)
        self.local_tokens = MemoryBackend(
            MemoryLimits(max_tokens=MAX_LOCAL_TOKENS), clock=services.wall_clock
        )
        self.backend: StateBackend | None = None
        self.backend_spec: tuple[str, str] = ("memory", "")
        self.counters: SyncedCounters | None = None
        self.health = BackendHealth()
        self.fleet: FleetLink | None = None
        self._fleet_secret_done = False
        self._limiters: dict[tuple[str, tuple[RateLimitRuleConfig, ...]], RateLimiter] = {}
        self.flood: SlidingWindowLimiter | GcraLimiter | None = None
        self._flood_spec: tuple[int, float, float] = (0, 0.0, 0.0)
        self.matcher: AccessMatcher = AccessRuleSet.compile([])
        self.geo: GeoLookup = NullGeoLookup()
        self._geo_spec: tuple[bool, str | None, str | None] = (False, None, None)
        self._config_bans: list[str] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self.started = False

    # -- config ------------------------------------------------------------------------------
    def provision(self, config: Config) -> None:
        if config is self.config:
            return
        sh = config.shield
        secret = load_secret(config)
        if secret != self._secret:
            self._secret = secret
            self._set_keys(derive_keyring(secret))
        self.pow.ttl = sh.challenge_ttl
        self.bans.max_entries = sh.max_bans
        self.clearance.ttl = sh.clearance_ttl
        self._provision_backend(sh)
        self._provision_geo(config)
        self.matcher = AccessRuleSet.compile(_access_rules(config), self.geo)
        self._provision_flood(sh)
        self._provision_config_bans(config)
        names = {z.name for z in config.zones}
        for key in [k for k in self._limiters if k[0] not in names]:
            del self._limiters[key]
        self.config, self.shield = config, sh

    def _set_keys(self, ring: KeyRing) -> None:
        self.keys = ring
        self.pow.keys = ring
        self.clearance.keys = ring

    def _provision_backend(self, sh: ShieldConfig) -> None:
        spec = (sh.state_backend, sh.redis_url)
        if spec == self.backend_spec and (self.backend is not None or spec[0] == "memory"):
            return
        self.backend_spec = spec
        old = self.fleet
        if old is not None and self.started:  # a reload moved the backend: its job ends
            self._spawn(old.stop(), "shield-fleet-stop")
        if sh.state_backend == "redis":
            self.backend = from_config("redis", {"url": sh.redis_url})
            self.counters = SyncedCounters(
                self.backend,
                SyncLimits(interval=sh.sync_interval),
                self.services.wall_clock,
                self.health,
            )
            self.fleet = FleetLink(
                self.backend,
                self.health,
                self.bans,
                self.services.clock,
                self._spawn,
                self._adopt_fleet_secret,
            )
            if self.started:
                self._start_counters()
                self._spawn(self.fleet.start(), "shield-fleet-start")
        else:
            self.backend, self.counters, self.fleet = None, None, None
        self._limiters.clear()  # counters moved: limiters bound to the old ones are stale

    def _provision_geo(self, config: Config) -> None:
        rules = _access_rules(config)
        sh = config.shield
        needs_country = any(r.kind == "country" for r in rules)
        spec = (needs_country, sh.geoip_country_mmdb, sh.geoip_asn_mmdb)
        if spec == self._geo_spec:
            return
        try:
            asn: GeoLookup = MmdbGeoLookup.open(None, sh.geoip_asn_mmdb)
            if sh.geoip_country_mmdb:
                country: GeoLookup = MmdbGeoLookup.open(sh.geoip_country_mmdb, None)
            elif needs_country:
                g2f = GeoIP2FastLookup("country")
                g2f.load()  # once per worker, at start; never on the request path
                country = g2f
            else:
                country = NullGeoLookup()
        except (MmdbError, OSError) as exc:
            raise ConfigError("shield.geoip", f"cannot open GeoIP database: {exc}") from exc
        self.geo = _SplitGeo(country, asn)
        self._geo_spec = spec

    def _provision_flood(self, sh: ShieldConfig) -> None:
        ban = sh.per_ip_action == "ban"
        spec = (sh.per_ip_requests, sh.per_ip_period, sh.ban_duration if ban else 0.0)
        if spec == self._flood_spec:
            return
        self._flood_spec = spec
        if sh.per_ip_requests <= 0:
            self.flood = None
        else:
            self.flood = SlidingWindowLimiter(
                sh.per_ip_requests, sh.per_ip_period, spec[2], FLOOD_KEY_BUDGET
            )

    def _provision_config_bans(self, config: Config) -> None:
        """Global ``block`` rules for addresses/networks are refused at accept, unless some
        allow rule exists (allow wins; the ban set cannot see it)."""
        for target in self._config_bans:
            with contextlib.suppress(ValueError):
                self.bans.unban(target)
        self._config_bans = []
        rules = _access_rules(config)
        if any(r.mode == "allow" for r in rules):
            return
        for r in config.shield.ip_access_rules:
            if r.mode == "block" and r.kind in ("ip", "cidr"):
                self.bans.ban(r.value, math.inf)
                self._config_bans.append(r.value)

    def forget_address(self, ip: str) -> None:
        """``ip`` starts afresh under the per-IP cap and every zone rate-limit rule keyed by
        the address alone (``RateLimiter.forget_address``): an operator lifted its ban."""
        if self.flood is not None:
            self.flood.forget(ip)
        for rl in self._limiters.values():
            rl.forget_address(ip)

    def limiter_for(self, zone: ZoneConfig) -> RateLimiter | None:
        rules = zone.security.rate_limits
        if not rules:
            return None
        key = (zone.name, rules)
        rl = self._limiters.get(key)
        if rl is None:
            for old in [k for k in self._limiters if k[0] == zone.name]:
                del self._limiters[old]
            if len(self._limiters) >= MAX_LIMITER_SETS:
                self._limiters.clear()
            shared = self.counters
            clock = self.services.wall_clock if shared is not None else self.services.clock
            ban_duration = self.shield.ban_duration
            compiled = [rule_from_config(r, ban_duration) for r in rules]
            rl = self._limiters[key] = RateLimiter(compiled, clock, shared)
        return rl

    # -- bans and single use -------------------------------------------------------------------
    def ban(self, ip: str, seconds: float) -> bool:
        """Refuse ``ip`` (or a CIDR) at accept for ``seconds``; published to the fleet."""
        ok = self.bans.ban(ip, self.services.clock() + seconds)
        if self.fleet is not None and self.started:
            self.fleet.publish_ban(ip, seconds, "shield")
        return ok

    def consume_once(self, token_id: str, ttl: float) -> bool:
        """This worker's single-use record (synchronous; the whole story without Redis)."""
        return self.local_tokens.consume_once_now(token_id, ttl)

    def redeem(self, token_id: str, ttl: float, binding: bytes) -> tuple[bool, str | None]:
        """Redeem a checked token: ``(False, None)`` replayed; ``(True, None)`` redeemed now;
        ``(True, claim)`` the fleet record is pending: settle ``claim`` on the follow-up."""
        if not self.local_tokens.consume_once_now(token_id, ttl):
            return False, None
        if self.fleet is None or not self.started:
            return True, None
        return True, self.fleet.begin_claim(token_id, ttl, binding)

    # -- lifecycle -----------------------------------------------------------------------------
    def _spawn(self, coro: object, name: str) -> None:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro, name=name)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _start_counters(self) -> None:
        if self.counters is not None:
            self._spawn(self.counters.run(), "shield-counter-sync")

    async def start(self, tick: Callable[[], None]) -> None:
        self.started = True
        self._start_counters()
        self._spawn(_every(1.0, tick), "shield-ban-expiry")
        if self.fleet is not None:
            await self.fleet.start()  # bounded: secret adopted and bans read if Redis is up

    async def _adopt_fleet_secret(self, backend: StateBackend) -> None:
        """On each connection until done: adopt the fleet's secret (none configured). Backend
        errors propagate to the link, which retries and logs the outage once."""
        local = self._secret
        if self._fleet_secret_done or local is None or (self.config and self.config.shield.secret):
            return
        fleet = await fetch_fleet_secret(backend, local)
        if fleet is None:
            log.warning("no fleet signing secret yet: cookies verify on this node only")
            return
        self._fleet_secret_done = True
        if fleet != local and len(fleet) >= 32:
            self._set_keys(derive_keyring(fleet, local))
            log.info("adopted the fleet's signing secret")

    async def stop(self) -> None:
        self.started = False
        tasks = list(self._tasks)
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        if self.fleet is not None:
            await self.fleet.stop()
        if self.counters is not None:
            with contextlib.suppress(Exception):  # best effort; failures are logged by sync
                await self.counters.flush_once()
        if self.backend is not None:
            await self.backend.aclose()
            self.backend, self.backend_spec = None, ("memory", "")
            self.counters, self.fleet = None, None


def _access_rules(config: Config) -> list[AccessRule]:
    out = [
        AccessRule(r.id, r.mode, r.kind, r.value, None, r.note)
        for r in config.shield.ip_access_rules
    ]
    for z in config.zones:
        out += [
            AccessRule(f"{z.name}/{r.id}", r.mode, r.kind, r.value, z.name, r.note)
            for r in z.security.ip_access_rules
        ]
    return out


async def _every(seconds: float, fn: Callable[[], None]) -> None:
    while True:
        await asyncio.sleep(seconds)
        fn()
