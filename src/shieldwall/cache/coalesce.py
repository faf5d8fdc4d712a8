"""Request coalescing for cache misses (one origin fetch per key at a time).

``Coalescer.run(key, fetch)``: the first caller for ``key`` becomes the **leader** and runs
``fetch()``, which returns ``(value, cacheable)``. Concurrent callers for the same key are
**followers**: they wait (at most ``wait_timeout``) for the leader's outcome.

- cacheable outcome: every follower gets the leader's value (one origin fetch in total);
- uncacheable outcome (e.g. the response carried ``Set-Cookie`` or ``private``): followers must
  not share it, so they are released to fetch for themselves, and the key is marked
  *hit-for-miss* for ``uncacheable_ttl`` seconds: later requests for it skip coalescing and go
  direct at once instead of queueing behind a leader whose answer they cannot use (Varnish's
  hit-for-miss);
- leader failure (exception or cancellation): followers retry; one of them becomes the next
  leader, so an origin outage does not turn into a stampede. After ``max_attempts`` they go
  direct. The leader's own caller sees its exception. (A follower that retries after the next
  leader already finished would lead again: the edge's ``fetch`` should look the cache up once
  more before going to the origin;)
- follower timeout: the follower goes direct (slow origin; the leader keeps going).

Callback form (no task per request, for protocol callbacks): ``join(key)`` returns
``("leader", fut)`` (the caller fetches and must call ``finish``), ``("follower", fut)``
(attach a done-callback; the result is an ``Outcome``) or ``("direct", None)``. ``finish`` is
idempotent and always resolves the future, so a follower is never left hanging.

Bounds: at most ``max_inflight`` keys coalesced at once (more go direct), at most
``max_uncacheable`` hit-for-miss marks (oldest dropped). asyncio only, no sockets; the clock
is injected (monotonic seconds) so tests never sleep for TTLs.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, Literal, TypeVar, cast

__all__ = ["Coalesced", "Coalescer", "Outcome", "Role"]

T = TypeVar("T")
Role = Literal["leader", "follower", "direct"]


@dataclass(frozen=True, slots=True)
class Coalesced(Generic[T]):
    value: T
    role: Role
    reason: str  # leader | shared | hit-for-miss | uncacheable | timeout | overflow | retry


@dataclass(frozen=True, slots=True)
class Outcome(Generic[T]):
    value: T | None
    cacheable: bool
    failed: bool


class Coalescer(Generic[T]):
    def __init__(
        self,
        *,
        max_inflight: int = 10_000,  # keys being fetched at once; more go direct
        wait_timeout: float = 15.0,  # a follower waits this long for the leader
        uncacheable_ttl: float = 10.0,  # hit-for-miss duration after an uncacheable answer
        max_uncacheable: int = 100_000,  # hit-for-miss marks kept
        max_attempts: int = 3,  # leaders tried before followers go direct
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_inflight = max_inflight
        self.wait_timeout = wait_timeout
        self.uncacheable_ttl = uncacheable_ttl
        self.max_uncacheable = max_uncacheable
        self.max_attempts = max_attempts
        self._clock = clock
        self._inflight: dict[str, asyncio.Future[Outcome[T]]] = {}
        self._hfm: OrderedDict[str, float] = OrderedDict()

    @property
    def inflight(self) -> int:
        return len(self._inflight)

    def mark_uncacheable(self, key: str) -> None:
        self._hfm[key] = self._clock() + self.uncacheable_ttl
        self._hfm.move_to_end(key)
        while len(self._hfm) > self.max_uncacheable:
            self._hfm.popitem(last=False)

    def is_uncacheable(self, key: str) -> bool:
        until = self._hfm.get(key)
        if until is None:
            return False
        if until <= self._clock():
            del self._hfm[key]
            return False
        return True

    def forget(self, key: str) -> None:
        """Drop a hit-for-miss mark (e.g. after a purge or when a cacheable answer arrives)."""
        self._hfm.pop(key, None)

    def join(self, key: str) -> tuple[Role, asyncio.Future[Outcome[T]] | None]:
        """Callback form of ``run``: lead (then ``finish``), follow ``fut``, or go direct."""
        if self.is_uncacheable(key):
            return "direct", None
        fut = self._inflight.get(key)
        if fut is not None:
            return "follower", fut
        if len(self._inflight) >= self.max_inflight:
            return "direct", None
        fut = asyncio.get_running_loop().create_future()
        self._inflight[key] = fut
        return "leader", fut

    def finish(
        self,
        key: str,
        fut: asyncio.Future[Outcome[T]],
        value: T | None,
        *,
        cacheable: bool,
        failed: bool = False,
    ) -> None:
        """The leader's outcome (idempotent: only the first call counts)."""
        if fut.done():
            return
        if self._inflight.get(key) is fut:
            del self._inflight[key]
        if not failed:
            if cacheable:
                self.forget(key)
            else:
                self.mark_uncacheable(key)
        fut.set_result(Outcome(value, cacheable, failed))

    async def run(self, key: str, fetch: Callable[[], Awaitable[tuple[T, bool]]]) -> Coalesced[T]:
        if self.is_uncacheable(key):
            value, _ = await fetch()
            return Coalesced(value, "direct", "hit-for-miss")
        for attempt in range(self.max_attempts):
            fut = self._inflight.get(key)
            if fut is None:
                if len(self._inflight) >= self.max_inflight:
                    value, _ = await fetch()
                    return Coalesced(value, "direct", "overflow")
                return await self._lead(key, fetch, "leader" if attempt == 0 else "retry")
            try:
                outcome = await asyncio.wait_for(asyncio.shield(fut), self.wait_timeout)
            except TimeoutError:
                value, _ = await fetch()
                return Coalesced(value, "direct", "timeout")
            if outcome.failed:
                continue
            if not outcome.cacheable:
                value, _ = await fetch()
                return Coalesced(value, "direct", "uncacheable")
            return Coalesced(cast(T, outcome.value), "follower", "shared")
        value, _ = await fetch()
        return Coalesced(value, "direct", "retry")

    async def _lead(
        self, key: str, fetch: Callable[[], Awaitable[tuple[T, bool]]], reason: str
    ) -> Coalesced[T]:
        fut: asyncio.Future[Outcome[T]] = asyncio.get_running_loop().create_future()
        self._inflight[key] = fut
        outcome: Outcome[T] = Outcome(None, False, True)
        try:
            value, cacheable = await fetch()
            outcome = Outcome(value, cacheable, False)
            if cacheable:
                self.forget(key)
            else:
                self.mark_uncacheable(key)
            return Coalesced(value, "leader", reason)
        finally:
            # Runs on success, exception and cancellation: followers are never left hanging.
            if self._inflight.get(key) is fut:
                del self._inflight[key]
            fut.set_result(outcome)
