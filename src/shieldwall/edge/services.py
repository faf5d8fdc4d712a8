"""Long-lived per-worker services that outlive config versions.

A config reload builds a new ``Runtime`` (immutable, per version) but must not forget what the
worker has learnt: rate-limit counters, bans, clearance signing keys, the GeoIP database, the
cache. Those live here, created once per worker process; filter builders receive the
``WorkerServices`` and bind what they need. Each subsystem adds its field (with a default
factory) and owns its initialisation; ``start``/``stop`` run background tasks they need.

Because a classic BPF program steers every client IP to one worker (edge/reuseport.py), the
per-IP state held here is exact for that IP without cross-process locking.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["WorkerServices"]


@dataclass(slots=True)
class WorkerServices:
    # monotonic seconds; injected in tests
    clock: Callable[[], float] = field(default=time.monotonic)
    # wall-clock seconds (token expiry, cookies, logs)
    wall_clock: Callable[[], float] = field(default=time.time)

    def is_banned(self, ip: str) -> bool:
        """Accept-time refusal (phase ``connection``); the shield fills this in."""
        return False

    async def start(self) -> None:
        """Start background work (ban expiry, counter sync). Called once per worker."""

    async def stop(self) -> None:
        """Stop background work; flush what must be flushed."""
