"""Long-lived per-worker services that outlive config versions.

A config reload builds a new ``Runtime`` (immutable, per version) but must not forget what the
worker has learnt: rate-limit counters, bans, clearance signing keys, the GeoIP database, the
cache. Those live here, created once per worker process; filter builders receive the
``WorkerServices`` and bind what they need. Each subsystem adds its field (with a default
factory) and owns its initialisation; ``start``/``stop`` run background tasks they need.

Because a classic BPF program steers every client IP to one worker (edge/reuseport.py), the
per-IP state held here is exact for that IP without cross-process locking.

Shield: ``bans`` is the accept-time ban set; ``is_banned`` *is* its bound method (one C-level
dict probe per accepted connection, no extra Python frame). ``shield`` holds the rest (keys,
limiters, access rules, state backend; ``edge/filters/shield_state.py``); it is provisioned by
the chain builder from each config version. ``start`` runs the ban expiry tick (1/s) and, with
Redis, the counter sync and the fleet link (bans to and from other nodes, single-use claims;
``edge/filters/shield_fleet.py``), waiting a bounded time for the link's first connection so
the node serves with the fleet's signing secret and bans; ``stop`` ends them and flushes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from shieldwall.edge.cache.service import CacheService
from shieldwall.edge.filters.shield_state import ShieldState
from shieldwall.iplists import BanSet

__all__ = ["WorkerServices"]


@dataclass(slots=True)
class WorkerServices:
    # monotonic seconds; injected in tests
    clock: Callable[[], float] = field(default=time.monotonic)
    # wall-clock seconds (token expiry, cookies, logs)
    wall_clock: Callable[[], float] = field(default=time.time)
    # accept-time ban set (until in ``clock`` seconds)
    bans: BanSet = field(default_factory=BanSet)
    # shield state (keys, limiters, access rules, backend); built in __post_init__
    shield: ShieldState = field(init=False)
    # accept-time refusal (phase ``connection``): ``bans.is_banned``, bound once
    is_banned: Callable[[str], bool] = field(init=False)
    # CDN cache tiers, coalescing, purge API, origin health (edge/cache/service.py)
    cache: CacheService = field(default_factory=CacheService)

    def __post_init__(self) -> None:
        self.is_banned = self.bans.is_banned
        self.shield = ShieldState(self)

    def expire_bans(self) -> None:
        self.bans.expire(self.clock())

    async def start(self) -> None:
        """Start background work (ban expiry, counter sync). Called once per worker."""
        await self.shield.start(self.expire_bans)

    async def stop(self) -> None:
        """Stop background work; flush what must be flushed."""
        await self.shield.stop()
        await self.cache.stop()
