"""A bounded least-recently-used cache for attacker-keyed lookups.

Keys here are client addresses, which an attacker chooses (within what TCP lets them
complete), so the cache has a hard entry bound and evicts the least recently used entry.
A plain ``dict`` keeps insertion order; a hit is moved to the end by delete + re-insert,
and the oldest entry is ``next(iter(d))``. That is cheaper in CPython than ``OrderedDict``
for the hit path and needs no lock (one event loop per worker).
"""

from __future__ import annotations

from typing import Final, Generic, TypeVar

__all__ = ["DEFAULT_GEO_CACHE_SIZE", "BoundedLRU"]

K = TypeVar("K")
V = TypeVar("V")

DEFAULT_GEO_CACHE_SIZE: Final = 65_536  # distinct client IPs remembered per lookup (~10 MiB)


class BoundedLRU(Generic[K, V]):
    """At most ``maxsize`` entries; ``get`` refreshes recency, ``put`` evicts the oldest."""

    __slots__ = ("_data", "hits", "maxsize", "misses")

    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.maxsize = maxsize
        self._data: dict[K, V] = {}
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def get(self, key: K) -> V | None:
        data = self._data
        try:
            value = data.pop(key)
        except KeyError:
            self.misses += 1
            return None
        data[key] = value
        self.hits += 1
        return value

    def put(self, key: K, value: V) -> None:
        data = self._data
        if key in data:
            del data[key]
        elif len(data) >= self.maxsize:
            del data[next(iter(data))]
        data[key] = value

    def clear(self) -> None:
        self._data.clear()
