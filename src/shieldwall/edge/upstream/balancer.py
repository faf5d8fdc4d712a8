"""Origin selection for a zone: health, weights, per-origin caps, failover (pure logic).

``OriginState`` is what one worker knows about one origin; it outlives config versions
(``OriginStates`` keys it by zone name and origin address, so a reload keeps health and counts).
``Balancer`` is compiled per zone per config version over those states and answers ``pick``:

- eligible = healthy (active checks) and not passively ejected (``down_until``) and not
  excluded (origins this request already tried) and under ``max_requests_per_origin``;
- when no origin is healthy the health filter is dropped (fail open to the origins rather
  than answer 502 from a stale verdict; the caps and exclusions still hold);
- ``round_robin``: smooth weighted round robin (each pick adds every eligible origin's weight
  to its ``current``, takes the largest, subtracts the total): picks interleave in proportion
  to the weights with no bursts;
- ``least_conn``: fewest requests in flight per unit of weight, ties by position;
- ``consistent_hash``: a ring of ``VNODES_PER_WEIGHT * weight`` points per origin (blake2b),
  the first eligible origin clockwise from the key's point: removing an origin moves only its
  keys.

``pick`` returns an index, ``FULL`` (some origin is up but every eligible one is at its cap:
queue) or ``NONE`` (nothing left to try). The caller brackets a request with ``acquire`` /
``release`` (in-flight count) and reports the outcome with ``report`` (passive health:
``passive_failures`` consecutive failures eject the origin for ``passive_down_time``).

Queue: a request that got ``FULL`` waits in ``Balancer.waiters`` (bounded by ``queue_size``,
each with a deadline); ``release`` hands the freed slot to the oldest waiter; ``expire(now)``
(the worker's sweep) times waiters out. Waiters are callbacks, never tasks.
"""

from __future__ import annotations

import bisect
import hashlib
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from shieldwall.config.cache import LoadBalancingConfig
from shieldwall.config.model import OriginConfig

__all__ = [
    "FULL",
    "NONE",
    "VNODES_PER_WEIGHT",
    "Balancer",
    "OriginState",
    "OriginStates",
    "Waiter",
]

FULL: Final = -1  # every eligible origin is at its in-flight cap
NONE: Final = -2  # no origin left to try
VNODES_PER_WEIGHT: Final = 64  # ring points per unit of weight (consistent_hash)
MAX_ZONE_STATES: Final = 100_000  # origin states kept per worker (stale zones are pruned)


@dataclass(slots=True)
class OriginState:
    """What one worker knows about one origin (mutable; survives reloads)."""

    healthy: bool = True  # active health verdict
    down_until: float = 0.0  # passive ejection ends at this monotonic time
    failures: int = 0  # consecutive passive failures
    inflight: int = 0  # requests in flight now
    probe_ok: int = 0  # consecutive successful probes
    probe_fail: int = 0  # consecutive failed probes
    current: int = 0  # smooth weighted round robin accumulator
    requests: int = 0  # requests sent (tests, metrics)

    def probe_result(self, ok: bool, healthy_threshold: int, unhealthy_threshold: int) -> None:
        """Record one active probe; flips ``healthy`` after the configured streaks."""
        if ok:
            self.probe_fail = 0
            self.probe_ok += 1
            if not self.healthy and self.probe_ok >= healthy_threshold:
                self.healthy = True
        else:
            self.probe_ok = 0
            self.probe_fail += 1
            if self.healthy and self.probe_fail >= unhealthy_threshold:
                self.healthy = False


class OriginStates:
    """Per-worker table ``(zone, host, port, tls) -> OriginState``."""

    __slots__ = ("_states",)

    def __init__(self) -> None:
        self._states: dict[tuple[str, str, int, bool], OriginState] = {}

    def get(self, zone: str, origin: OriginConfig) -> OriginState:
        key = (zone, origin.host, origin.port, origin.tls)
        st = self._states.get(key)
        if st is None:
            if len(self._states) >= MAX_ZONE_STATES:
                self._states.pop(next(iter(self._states)))
            st = self._states[key] = OriginState()
        return st

    def retain(self, keys: set[tuple[str, str, int, bool]]) -> None:
        """Forget origins no config version names any more."""
        for k in [k for k in self._states if k not in keys]:
            del self._states[k]

    def __len__(self) -> int:
        return len(self._states)

    def items(self) -> list[tuple[tuple[str, str, int, bool], OriginState]]:
        """A snapshot of ``(zone, host, port, tls) -> state`` (for metrics)."""
        return list(self._states.items())


class Waiter(Protocol):
    """A request queued for a capped origin pool."""

    def slot_free(self) -> None: ...  # pick again now
    def queue_timeout(self) -> None: ...  # give up: 503 + Retry-After (or stale)


def _point(key: str) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big")


class Balancer:
    __slots__ = (
        "_ring",
        "_ring_points",
        "cap",
        "config",
        "origins",
        "single",
        "states",
        "waiters",
        "weights",
    )

    def __init__(
        self,
        origins: Sequence[OriginConfig],
        config: LoadBalancingConfig,
        states: Sequence[OriginState],
    ) -> None:
        if not origins or len(origins) != len(states):
            raise ValueError("one state per origin, at least one origin")
        self.origins = tuple(origins)
        self.config = config
        self.states = tuple(states)
        self.single = len(self.states) == 1  # pick() is trivial: see OriginChoice.choose_origin
        self.cap = config.max_requests_per_origin
        self.weights = tuple(max(1, o.weight) for o in origins)
        self.waiters: deque[tuple[float, Waiter]] = deque()
        ring: list[tuple[int, int]] = []
        if config.method == "consistent_hash":
            for i, o in enumerate(origins):
                for v in range(VNODES_PER_WEIGHT * self.weights[i]):
                    ring.append((_point(f"{o.host}:{o.port}#{v}"), i))
            ring.sort()
        self._ring = ring
        self._ring_points = [p for p, _ in ring]

    # -- selection --------------------------------------------------------------------------
    def _eligible(self, now: float, exclude: Sequence[int]) -> tuple[list[int], bool]:
        """(eligible indexes, whether some candidate was skipped only for its cap)."""
        cap = self.config.max_requests_per_origin
        states = self.states
        up = [
            i
            for i, s in enumerate(states)
            if s.healthy and s.down_until <= now and i not in exclude
        ]
        if not up:  # fail open: every origin looks down, try them anyway
            up = [i for i in range(len(states)) if i not in exclude]
        if not cap:
            return up, False
        free = [i for i in up if states[i].inflight < cap]
        return free, bool(up) and not free

    def pick(self, now: float, key: str = "", exclude: Sequence[int] = ()) -> int:
        """The origin for the next request: an index, ``FULL`` or ``NONE``."""
        if len(self.states) == 1 and not exclude:
            cap = self.config.max_requests_per_origin
            return FULL if cap and self.states[0].inflight >= cap else 0
        eligible, full = self._eligible(now, exclude)
        if not eligible:
            return FULL if full else NONE
        method = self.config.method
        if method == "round_robin":
            return self._smooth_rr(eligible)
        if method == "least_conn":
            states, weights = self.states, self.weights
            return min(eligible, key=lambda i: (states[i].inflight / weights[i], i))
        return self._ring_pick(key, eligible)

    def _smooth_rr(self, eligible: list[int]) -> int:
        states, weights = self.states, self.weights
        total = 0
        best = eligible[0]
        for i in eligible:
            s = states[i]
            s.current += weights[i]
            total += weights[i]
            if s.current > states[best].current:
                best = i
        states[best].current -= total
        return best

    def _ring_pick(self, key: str, eligible: list[int]) -> int:
        allowed = set(eligible)
        n = len(self._ring)
        start = bisect.bisect_left(self._ring_points, _point(key)) % n
        for step in range(n):
            idx = self._ring[(start + step) % n][1]
            if idx in allowed:
                return idx
        return eligible[0]  # unreachable: every origin has ring points

    # -- accounting -------------------------------------------------------------------------
    def acquire(self, i: int) -> None:
        s = self.states[i]
        s.inflight += 1
        s.requests += 1

    def release(self, i: int) -> None:
        s = self.states[i]
        if s.inflight > 0:
            s.inflight -= 1
        if self.waiters:
            _, waiter = self.waiters.popleft()
            waiter.slot_free()

    def report(self, i: int, ok: bool, now: float) -> None:
        """Passive health: connect errors, timeouts and 5xx are failures."""
        s = self.states[i]
        if ok:
            s.failures = 0
            return
        s.failures += 1
        if s.failures >= self.config.passive_failures:
            s.failures = 0
            s.down_until = now + self.config.passive_down_time

    # -- queue ------------------------------------------------------------------------------
    def enqueue(self, waiter: Waiter, now: float) -> bool:
        """Queue ``waiter`` for a free slot; False when the queue is full (503 now)."""
        if len(self.waiters) >= self.config.queue_size or self.config.queue_timeout <= 0:
            return False
        self.waiters.append((now + self.config.queue_timeout, waiter))
        return True

    def cancel(self, waiter: Waiter) -> None:
        for item in self.waiters:
            if item[1] is waiter:
                self.waiters.remove(item)
                return

    def expire(self, now: float) -> None:
        """Time out waiters past their deadline (oldest first; deadlines are in order)."""
        waiters = self.waiters
        while waiters and waiters[0][0] <= now:
            _, waiter = waiters.popleft()
            waiter.queue_timeout()
