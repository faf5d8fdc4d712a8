"""In-process ``StateBackend`` (the embedded default). Every map is bounded.

Each map has a maximum size (``MemoryLimits``), a TTL per entry and an eviction rule:

- counters and keys: least recently written first (``OrderedDict`` order), expired entries are
  dropped when met and by a bounded sweep on every write;
- bans: expired first, then the ban that ends soonest;
- single-use tokens: only expired records are ever dropped. When the map is full of live records a
  new token is refused (``consume_once`` returns False): forgetting a live record would let that
  token be replayed, so the backend fails closed;
- subscriptions: each subscriber has a bounded queue; when it is full the oldest message is
  dropped (a slow subscriber never blocks a publisher) and counted in ``dropped``.

Time comes from an injected ``clock`` (wall-clock seconds) so tests never sleep.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from shieldwall.state.base import Ban, CounterDelta, bounded_key, normalise_target

__all__ = ["MemoryBackend", "MemoryLimits", "MemorySubscription"]

log = logging.getLogger(__name__)

V = TypeVar("V")
_SWEEP = 8  # expired entries examined per write: amortised, bounded cleanup


@dataclass(frozen=True, slots=True)
class MemoryLimits:
    max_counters: int = 1_000_000  # (key, window) counters; ~150 B each
    max_keys: int = 100_000  # key/value entries
    max_value_bytes: int = 64 * 1024  # one value; bigger is a programming error
    max_bans: int = 100_000  # banned IPs / prefixes
    max_tokens: int = 1_000_000  # remembered single-use token ids
    subscriber_queue: int = 1_000  # undelivered messages per subscriber


class _TTLMap(Generic[V]):
    """OrderedDict of key -> (expires, value), oldest write first, bounded by ``max_size``."""

    __slots__ = ("clock", "d", "max_size")

    def __init__(self, max_size: int, clock: Callable[[], float]) -> None:
        self.d: OrderedDict[str, tuple[float, V]] = OrderedDict()
        self.max_size = max_size
        self.clock = clock

    def __len__(self) -> int:
        return len(self.d)

    def get(self, key: str) -> V | None:
        item = self.d.get(key)
        if item is None:
            return None
        if item[0] <= self.clock():
            del self.d[key]
            return None
        return item[1]

    def sweep(self, n: int) -> None:
        now = self.clock()
        for _ in range(min(n, len(self.d))):
            k, (exp, _) = next(iter(self.d.items()))
            if exp > now:
                return
            del self.d[k]

    def put(self, key: str, value: V, expires: float, evict: bool = True) -> bool:
        """Store; False (and nothing stored) when full and ``evict`` is False."""
        d = self.d
        if key in d:
            d[key] = (expires, value)
            d.move_to_end(key)
            return True
        self.sweep(_SWEEP)
        if len(d) >= self.max_size:
            if not evict:
                return False
            d.popitem(last=False)
        d[key] = (expires, value)
        return True

    def pop(self, key: str) -> bool:
        return self.d.pop(key, None) is not None


class MemorySubscription:
    def __init__(self, backend: MemoryBackend, channel: str, maxsize: int) -> None:
        self._backend = backend
        self._channel = channel
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize)
        self.dropped = 0

    def deliver(self, message: bytes) -> None:
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(message)

    async def _iter(self) -> AsyncIterator[bytes]:
        while True:
            yield await self.queue.get()

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._iter()

    async def aclose(self) -> None:
        self._backend._subscribers.get(self._channel, set()).discard(self)


class MemoryBackend:
    def __init__(
        self, limits: MemoryLimits | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self.limits = lim = limits or MemoryLimits()
        self.clock = clock
        self._counters: _TTLMap[int] = _TTLMap(lim.max_counters, clock)
        self._kv: _TTLMap[bytes] = _TTLMap(lim.max_keys, clock)
        self._tokens: _TTLMap[bool] = _TTLMap(lim.max_tokens, clock)
        self._bans: dict[str, Ban] = {}
        self._ban_prefixes: dict[tuple[int, int], int] = {}  # (version, prefixlen) -> count
        self._subscribers: dict[str, set[MemorySubscription]] = {}
        self._tokens_full_logged = False

    # -- counters -------------------------------------------------------------------------
    def incr_now(self, key: str, window: int, ttl: float, amount: int = 1) -> int:
        """Synchronous form (the memory backend never waits)."""
        k = f"{bounded_key(key)}\x00{window}"
        total = (self._counters.get(k) or 0) + amount
        self._counters.put(k, total, self.clock() + ttl)
        return total

    async def incr(self, key: str, window: int, ttl: float, amount: int = 1) -> int:
        return self.incr_now(key, window, ttl, amount)

    async def incr_many(self, deltas: Sequence[CounterDelta]) -> list[int]:
        return [self.incr_now(d.key, d.window, d.ttl, d.amount) for d in deltas]

    async def get_count(self, key: str, window: int) -> int:
        return self._counters.get(f"{bounded_key(key)}\x00{window}") or 0

    # -- keys -----------------------------------------------------------------------------
    async def set(self, key: str, value: bytes, ttl: float) -> None:
        if len(value) > self.limits.max_value_bytes:
            raise ValueError(f"value of {len(value)} bytes exceeds max_value_bytes")
        self._kv.put(bounded_key(key), bytes(value), self.clock() + ttl)

    async def get(self, key: str) -> bytes | None:
        return self._kv.get(bounded_key(key))

    async def delete(self, key: str) -> bool:
        k = bounded_key(key)
        present = self._kv.get(k) is not None
        self._kv.pop(k)
        return present

    # -- bans -----------------------------------------------------------------------------
    def _drop_ban(self, target: str) -> bool:
        ban = self._bans.pop(target, None)
        if ban is None:
            return False
        net = ipaddress.ip_network(target)
        pk = (net.version, net.prefixlen)
        self._ban_prefixes[pk] -= 1
        if not self._ban_prefixes[pk]:
            del self._ban_prefixes[pk]
        return True

    def _expire_bans(self) -> None:
        now = self.clock()
        for t in [t for t, b in self._bans.items() if b.until <= now]:
            self._drop_ban(t)

    async def ban(self, target: str, ttl: float, reason: str = "") -> Ban:
        t = normalise_target(target)
        ban = Ban(t, self.clock() + ttl, reason[:200])
        if t not in self._bans and len(self._bans) >= self.limits.max_bans:
            self._expire_bans()
            if len(self._bans) >= self.limits.max_bans:
                self._drop_ban(min(self._bans.values(), key=lambda b: b.until).target)
        if t not in self._bans:
            net = ipaddress.ip_network(t)
            pk = (net.version, net.prefixlen)
            self._ban_prefixes[pk] = self._ban_prefixes.get(pk, 0) + 1
        self._bans[t] = ban
        return ban

    async def unban(self, target: str) -> bool:
        return self._drop_ban(normalise_target(target))

    def is_banned_now(self, ip: str) -> bool:
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return False
        now = self.clock()
        for version, plen in self._ban_prefixes:
            if version != addr.version:
                continue
            net = str(ipaddress.ip_network((addr, plen), strict=False))
            ban = self._bans.get(net)
            if ban is not None:
                if ban.until > now:
                    return True
                self._drop_ban(net)
                break  # the prefix table changed under us; one expired ban per call is enough
        return False

    async def is_banned(self, ip: str) -> bool:
        return self.is_banned_now(ip)

    async def list_bans(self) -> list[Ban]:
        self._expire_bans()
        return sorted(self._bans.values(), key=lambda b: b.target)

    # -- single-use tokens ----------------------------------------------------------------
    def consume_once_now(self, token_id: str, ttl: float) -> bool:
        k = bounded_key(token_id)
        if self._tokens.get(k) is not None:
            return False
        if not self._tokens.put(k, True, self.clock() + ttl, evict=False):
            if not self._tokens_full_logged:
                log.warning("single-use token store full: refusing new tokens (fail closed)")
                self._tokens_full_logged = True
            return False
        return True

    async def consume_once(self, token_id: str, ttl: float) -> bool:
        return self.consume_once_now(token_id, ttl)

    # -- pub/sub --------------------------------------------------------------------------
    async def publish(self, channel: str, message: bytes) -> int:
        subs = self._subscribers.get(channel, ())
        for s in subs:
            s.deliver(bytes(message))
        return len(subs)

    async def subscribe(self, channel: str) -> MemorySubscription:
        sub = MemorySubscription(self, channel, self.limits.subscriber_queue)
        self._subscribers.setdefault(channel, set()).add(sub)
        return sub

    async def ping(self) -> bool:
        return True

    async def aclose(self) -> None:
        self._subscribers.clear()
