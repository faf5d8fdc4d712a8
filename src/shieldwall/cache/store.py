"""The ``CacheStore`` seam: where entries live.

Implementations (explicit table, no import side effects): ``STORES = {"memory": MemoryStore,
"disk": DiskStore}``.

Contract (``tests/cache/test_store_contract.py`` runs it against every store):

- ``put(key, entry) -> bool``: False when the entry is not kept (larger than
  ``max_object_bytes`` or than the whole budget). Replaces an existing entry of that key.
- after any operation ``bytes_used <= max_bytes`` (the byte budget invariant); entries are
  charged ``entry.size`` (memory) or their file size (disk).
- ``get(key)`` returns the entry or None; it may count as an access for eviction.
- ``index`` is the store's ``PurgeIndex``, updated on insert, delete and eviction.
- ``delete(key) -> bool``; ``clear() -> int`` (entries removed).

Stores are synchronous. ``MemoryStore`` is called from the event loop thread directly;
``DiskStore`` does file I/O and must be called through a thread executor (``AsyncStore``
wraps any store with ``loop.run_in_executor``). Disk stores are internally locked.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import Executor
from typing import Protocol, runtime_checkable

from shieldwall.cache._index import PurgeIndex
from shieldwall.cache.entry import CacheEntry

__all__ = ["STORES", "AsyncStore", "CacheStore"]


@runtime_checkable
class CacheStore(Protocol):
    max_bytes: int
    max_object_bytes: int

    @property
    def index(self) -> PurgeIndex: ...

    @property
    def bytes_used(self) -> int: ...

    def __len__(self) -> int: ...

    def __contains__(self, key: object) -> bool: ...

    def get(self, key: str) -> CacheEntry | None: ...

    def put(self, key: str, entry: CacheEntry) -> bool: ...

    def delete(self, key: str) -> bool: ...

    def keys(self) -> list[str]: ...

    def clear(self) -> int: ...


class AsyncStore:
    """Runs a synchronous store's operations in an executor (for disk stores)."""

    __slots__ = ("_executor", "store")

    def __init__(self, store: CacheStore, executor: Executor | None = None) -> None:
        self.store = store
        self._executor = executor

    async def get(self, key: str) -> CacheEntry | None:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.store.get, key)

    async def put(self, key: str, entry: CacheEntry) -> bool:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.store.put, key, entry)

    async def delete(self, key: str) -> bool:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self.store.delete, key)


def _stores() -> dict[str, type]:
    from shieldwall.cache.disk import DiskStore
    from shieldwall.cache.memory import MemoryStore

    return {"memory": MemoryStore, "disk": DiskStore}


# Explicit table of implementations (STYLE.md §8).
STORES: dict[str, type] = _stores()
