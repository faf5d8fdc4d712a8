"""In-memory cache tier with a byte budget and S3-FIFO eviction.

S3-FIFO (Yang et al., SOSP 2023) keeps three FIFO queues:

- **small** (about ``small_ratio`` of the budget): every new key enters here;
- **main**: keys that proved themselves (hit while in small, or seen recently in ghost);
- **ghost**: keys only (no data) recently evicted from small, bounded by count.

Each resident entry has a saturating access counter (0..3), bumped on ``get``. Eviction:

- from small (when small holds more than its share, or main is empty): the oldest entry moves to
  main if it was accessed while in small, else it is dropped and its key goes to ghost;
- from main: the oldest entry with a non-zero counter is reinserted at the tail with the counter
  decremented (second chance); one with zero is dropped.

Why it matters here: a scan of one-hit wonders (a crawler, a cache-busting attack) only churns
the small queue and ghost; hot objects in main are never pushed out by it. Lookup, insert and
each eviction step are O(1) amortised (``OrderedDict`` queues).

Invariant (tested under random operations): ``bytes_used <= max_bytes`` after every call, and
``bytes_used`` equals the sum of resident ``entry.size``.
"""

from __future__ import annotations

from collections import OrderedDict

from shieldwall.cache._index import PurgeIndex
from shieldwall.cache.entry import CacheEntry
from shieldwall.errors import ConfigError

__all__ = ["MemoryStore"]

_MAX_FREQ = 3


class _Slot:
    __slots__ = ("entry", "freq", "in_main")

    def __init__(self, entry: CacheEntry, in_main: bool) -> None:
        self.entry = entry
        self.freq = 0
        self.in_main = in_main


class MemoryStore:
    def __init__(
        self,
        max_bytes: int,
        *,
        max_object_bytes: int | None = None,
        small_ratio: float = 0.1,
        max_ghost: int = 100_000,
    ) -> None:
        if max_bytes <= 0:
            raise ConfigError("cache.memory.max_bytes", "must be > 0")
        if not 0.0 < small_ratio < 1.0:
            raise ConfigError("cache.memory.small_ratio", "must be within (0, 1)")
        self.max_bytes = max_bytes
        self.max_object_bytes = max_bytes if max_object_bytes is None else max_object_bytes
        self._small_target = int(max_bytes * small_ratio)
        self._max_ghost = max_ghost  # keys remembered after eviction from small
        self._slots: dict[str, _Slot] = {}
        self._small: OrderedDict[str, None] = OrderedDict()
        self._main: OrderedDict[str, None] = OrderedDict()
        self._ghost: OrderedDict[str, None] = OrderedDict()
        self._small_bytes = 0
        self._main_bytes = 0
        self._index = PurgeIndex()
        self.evictions = 0

    @property
    def index(self) -> PurgeIndex:
        return self._index

    @property
    def bytes_used(self) -> int:
        return self._small_bytes + self._main_bytes

    def __len__(self) -> int:
        return len(self._slots)

    def __contains__(self, key: object) -> bool:
        return key in self._slots

    def keys(self) -> list[str]:
        return list(self._slots)

    def in_main(self, key: str) -> bool:
        """Whether ``key`` sits in the main queue (for tests and metrics)."""
        slot = self._slots.get(key)
        return slot is not None and slot.in_main

    def get(self, key: str) -> CacheEntry | None:
        slot = self._slots.get(key)
        if slot is None:
            return None
        if slot.freq < _MAX_FREQ:
            slot.freq += 1
        return slot.entry

    def admits(self, size: int) -> bool:
        """Would ``put`` take an entry of ``size`` bytes (``CacheEntry.size``)?"""
        return size <= self.max_object_bytes and size <= self.max_bytes

    def put(self, key: str, entry: CacheEntry) -> bool:
        size = entry.size
        if not self.admits(size):
            self.delete(key)
            return False
        old = self._slots.get(key)
        if old is not None:
            # Replace in place: keeps the queue position and what the key has earned.
            delta = size - old.entry.size
            if old.in_main:
                self._main_bytes += delta
            else:
                self._small_bytes += delta
            old.entry = entry
            self._index.add(key, entry)
            self._evict(protect=key)
            return True
        to_main = key in self._ghost
        if to_main:
            del self._ghost[key]
        slot = _Slot(entry, in_main=to_main)
        self._slots[key] = slot
        if to_main:
            self._main[key] = None
            self._main_bytes += size
        else:
            self._small[key] = None
            self._small_bytes += size
        self._index.add(key, entry)
        self._evict(protect=key)
        return True

    def delete(self, key: str) -> bool:
        slot = self._slots.pop(key, None)
        if slot is None:
            return False
        if slot.in_main:
            del self._main[key]
            self._main_bytes -= slot.entry.size
        else:
            del self._small[key]
            self._small_bytes -= slot.entry.size
        self._index.discard(key)
        return True

    def clear(self) -> int:
        n = len(self._slots)
        self._slots.clear()
        self._small.clear()
        self._main.clear()
        self._ghost.clear()
        self._small_bytes = self._main_bytes = 0
        self._index.clear()
        return n

    def _drop(self, key: str) -> None:
        del self._slots[key]
        self._index.discard(key)
        self.evictions += 1

    def _evict(self, protect: str) -> None:
        """Evict until within budget; ``protect`` (the key just written) is never the victim.

        Terminates: every step either drops an entry, moves one from small to main, or lowers
        a counter (second chance) or rotates ``protect`` past at least one other key.
        """
        while self.bytes_used > self.max_bytes:
            small_ok = bool(self._small) and not (len(self._small) == 1 and protect in self._small)
            main_ok = bool(self._main) and not (len(self._main) == 1 and protect in self._main)
            if small_ok and (self._small_bytes > self._small_target or not main_ok):
                self._evict_small(protect)
            elif main_ok:
                self._evict_main(protect)
            else:
                break  # only ``protect`` is left, and it fits (checked in put)

    def _evict_small(self, protect: str) -> None:
        key, _ = self._small.popitem(last=False)
        slot = self._slots[key]
        if key == protect:
            self._small[key] = None
            return
        self._small_bytes -= slot.entry.size
        if slot.freq > 0:
            slot.in_main = True
            slot.freq = 0
            self._main[key] = None
            self._main_bytes += slot.entry.size
            return
        self._drop(key)
        self._ghost[key] = None
        while len(self._ghost) > self._max_ghost:
            self._ghost.popitem(last=False)

    def _evict_main(self, protect: str) -> None:
        key, _ = self._main.popitem(last=False)
        slot = self._slots[key]
        if key == protect or slot.freq > 0:
            if key != protect:
                slot.freq -= 1
            self._main[key] = None
            return
        self._main_bytes -= slot.entry.size
        self._drop(key)
