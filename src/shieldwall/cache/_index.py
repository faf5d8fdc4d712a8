"""Secondary indexes for purging: url -> keys, host -> keys, tag -> keys.

A store owns one ``PurgeIndex`` and updates it on every insert and removal (including
evictions), so the index never holds more keys than the store holds entries: it is bounded
by the store's own budget. Not thread-safe by itself; a store that is used from threads
calls it under its own lock.
"""

from __future__ import annotations

from shieldwall.cache.entry import CacheEntry

__all__ = ["PurgeIndex"]


def _add(table: dict[str, set[str]], name: str, key: str) -> None:
    bucket = table.get(name)
    if bucket is None:
        table[name] = {key}
    else:
        bucket.add(key)


def _drop(table: dict[str, set[str]], name: str, key: str) -> None:
    bucket = table.get(name)
    if bucket is not None:
        bucket.discard(key)
        if not bucket:
            del table[name]


class PurgeIndex:
    __slots__ = ("_by_host", "_by_tag", "_by_url", "_meta")

    def __init__(self) -> None:
        self._meta: dict[str, tuple[str, str, tuple[str, ...]]] = {}
        self._by_url: dict[str, set[str]] = {}
        self._by_host: dict[str, set[str]] = {}
        self._by_tag: dict[str, set[str]] = {}

    def __len__(self) -> int:
        return len(self._meta)

    def add(self, key: str, entry: CacheEntry) -> None:
        self.discard(key)
        tags = tuple(t.lower() for t in entry.tags)
        self._meta[key] = (entry.url, entry.host, tags)
        _add(self._by_url, entry.url, key)
        _add(self._by_host, entry.host, key)
        for tag in tags:
            _add(self._by_tag, tag, key)

    def discard(self, key: str) -> None:
        meta = self._meta.pop(key, None)
        if meta is None:
            return
        url, host, tags = meta
        _drop(self._by_url, url, key)
        _drop(self._by_host, host, key)
        for tag in tags:
            _drop(self._by_tag, tag, key)

    def clear(self) -> None:
        self._meta.clear()
        self._by_url.clear()
        self._by_host.clear()
        self._by_tag.clear()

    def keys_for_url(self, url: str) -> list[str]:
        return list(self._by_url.get(url, ()))

    def keys_for_host(self, host: str) -> list[str]:
        return list(self._by_host.get(host.lower(), ()))

    def keys_for_tag(self, tag: str) -> list[str]:
        return list(self._by_tag.get(tag.lower(), ()))

    def keys_with_prefix(self, prefix: str) -> list[str]:
        return [k for url, keys in self._by_url.items() if url.startswith(prefix) for k in keys]

    def tag_count(self) -> int:
        return len(self._by_tag)
