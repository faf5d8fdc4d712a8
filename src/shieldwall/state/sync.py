"""Local counters the edge updates synchronously, synced to the fleet in batched deltas.

Theory: a fleet-wide rate limit needs the sum of every node's counts, but one Redis round trip
per request would make the flood path as slow as Redis (and down when Redis is down). So each
node keeps, per (key, window)::

    fleet    the fleet total as last read back from the backend (includes our flushed deltas)
    pending  our increments since the last successful flush

and answers ``add``/``get`` with ``fleet + pending`` without any I/O. A background task flushes
every ``interval`` seconds: it takes all pending deltas (plus a zero delta for keys used since
the last flush, to learn other nodes' increments), sends them in one pipelined batch
(``incr_many``: INCRBY + PEXPIRE per key), and stores the returned totals as the new ``fleet``.
Other nodes' traffic is therefore seen with at most ~one interval of delay, ours immediately.

Failure: when the backend is unreachable, the deltas of the failed batch are put back into
``pending`` (nothing is lost or double counted locally), decisions go on using local counts, one
WARNING is logged for the outage (not per request, not per retry) and flushes back off
exponentially up to ``max_backoff``. The first successful flush logs one INFO line. A node's
background jobs may share one ``health.BackendHealth`` (the ``health`` argument) so the node logs
one WARNING per outage in all. A flush that had nothing to send did no round trip, so it proves
nothing about the backend and never reports a recovery.

Bounds: at most ``max_keys`` entries; entries expire with their window's TTL; when full the
oldest entry is dropped (its unflushed delta with it, counted in ``dropped``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

from redis.exceptions import RedisError

from shieldwall.state.base import CounterDelta, StateBackend
from shieldwall.state.health import BackendHealth

__all__ = ["SyncLimits", "SyncedCounters"]

log = logging.getLogger(__name__)

_FAILURES = (RedisError, OSError, asyncio.TimeoutError, ConnectionError)


@dataclass(frozen=True, slots=True)
class SyncLimits:
    interval: float = 0.5  # seconds between flushes (0.25-1 s: staleness vs. Redis load)
    max_keys: int = 200_000  # local (key, window) entries; the oldest is dropped beyond it
    max_batch: int = 10_000  # deltas per pipeline; a bigger backlog goes in several batches
    flush_timeout: float = 2.0  # one batch may take this long before it counts as failed
    max_backoff: float = 10.0  # longest pause between flush attempts while the backend is down
    read_ttl: float = 120.0  # how long a key only read (never added to here) is kept and synced


class _Entry:
    __slots__ = ("expires", "fleet", "pending", "read", "ttl")

    def __init__(self, ttl: float, expires: float) -> None:
        self.fleet = 0
        self.pending = 0
        self.read = False
        self.ttl = ttl
        self.expires = expires


class SyncedCounters:
    """Implements ``ratelimit.SharedCounter``: ``add``/``get`` are synchronous and never block."""

    def __init__(
        self,
        backend: StateBackend,
        limits: SyncLimits | None = None,
        clock: Callable[[], float] = time.time,
        health: BackendHealth | None = None,
    ) -> None:
        self.backend = backend
        self.limits = limits or SyncLimits()
        self.clock = clock
        self.health = health or BackendHealth(logger=log)
        self._entries: dict[tuple[str, int], _Entry] = {}
        self.healthy = True  # this job's own view (the shared ``health`` may differ)
        self.dropped = 0
        self.flushes = 0
        self.failures = 0
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    # -- request path (synchronous) -------------------------------------------------------
    def add(self, key: str, window: int, ttl: float, amount: int = 1) -> int:
        e = self._entries.get((key, window))
        if e is None:
            e = self._new(key, window, ttl)
        e.pending += amount
        e.read = True
        return e.fleet + e.pending

    def get(self, key: str, window: int) -> int:
        """Best-known total. An unknown key is 0 now and is learned from the fleet next flush."""
        e = self._entries.get((key, window))
        if e is None:
            e = self._new(key, window, self.limits.read_ttl)
        e.read = True
        return e.fleet + e.pending

    def _new(self, key: str, window: int, ttl: float) -> _Entry:
        d = self._entries
        if len(d) >= self.limits.max_keys:
            self._expire()
            if len(d) >= self.limits.max_keys:
                del d[next(iter(d))]
                self.dropped += 1
        e = d[key, window] = _Entry(ttl, self.clock() + ttl)
        return e

    def _expire(self) -> None:
        now = self.clock()
        for k in [k for k, e in self._entries.items() if e.expires <= now]:
            del self._entries[k]

    def __len__(self) -> int:
        return len(self._entries)

    # -- background flush -----------------------------------------------------------------
    async def flush_once(self) -> bool:
        """Send pending deltas; merge the fleet's totals. True on success (or nothing to do)."""
        self._expire()
        batch: list[tuple[tuple[str, int], _Entry, int]] = []
        for k, e in self._entries.items():
            if e.pending or e.read:
                batch.append((k, e, e.pending))
                e.pending = 0
                e.read = False
        ok = True
        step = self.limits.max_batch
        for start in range(0, len(batch), step):
            part = batch[start : start + step]
            if not ok:
                self._restore(part)
                continue
            deltas = [CounterDelta(k[0], k[1], n, e.ttl) for k, e, n in part]
            try:
                async with asyncio.timeout(self.limits.flush_timeout):
                    totals = await self.backend.incr_many(deltas)
            except _FAILURES as exc:
                ok = False
                self._restore(part)
                self._went_down(exc)
                continue
            for (_, e, _), total in zip(part, totals, strict=True):
                e.fleet = total
        if ok:
            self.flushes += 1
            if batch:  # a round trip happened: the backend answered
                self.healthy = True
                self.health.recovered("counter sync")
        return ok

    @staticmethod
    def _restore(part: list[tuple[tuple[str, int], _Entry, int]]) -> None:
        for _, e, n in part:
            e.pending += n
            e.read = True

    def _went_down(self, exc: BaseException) -> None:
        self.failures += 1
        self.healthy = False
        self.health.failed("counter sync", exc)

    async def run(self) -> None:
        """Flush forever (cancel to stop). Backs off exponentially while the backend is down."""
        delay = self.limits.interval
        while True:
            with contextlib.suppress(TimeoutError):  # the timeout is the normal wake-up
                async with asyncio.timeout(delay):
                    await self._wake.wait()
            self._wake.clear()
            if await self.flush_once():
                delay = self.limits.interval
            else:
                delay = min(max(delay, self.limits.interval) * 2, self.limits.max_backoff)

    def flush_soon(self) -> None:
        """Wake the flush task now (tests, shutdown)."""
        self._wake.set()

    async def __aenter__(self) -> SyncedCounters:
        self._task = asyncio.create_task(self.run(), name="state-sync-flush")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.flush_once()  # last best-effort flush; failures are already logged
