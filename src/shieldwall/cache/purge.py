"""Purge API: by exact URL, URL prefix, tag, host, or everything.

Every purge resolves keys through the store's ``PurgeIndex`` (kept by the store itself, so it
is bounded by the store's budget and forgets evicted keys) and deletes them from the store.
Exact-URL purge removes every variant and key form of that URL (Vary variants, header- or
cookie-keyed entries), since they share the effective request URL.

URLs are matched as the cache recorded them: ``scheme://host[:port]/path?query`` as received.
Each call returns the number of entries removed. For a disk store call these from a thread
executor like any other disk operation.
"""

from __future__ import annotations

from collections.abc import Iterable

from shieldwall.cache.store import CacheStore

__all__ = ["Purger"]

MAX_PURGE_ITEMS = 1000  # URLs / tags / prefixes accepted in one call


class Purger:
    __slots__ = ("_stores",)

    def __init__(self, *stores: CacheStore) -> None:
        self._stores = stores

    def _delete(self, store: CacheStore, keys: Iterable[str]) -> int:
        return sum(1 for key in keys if store.delete(key))

    def purge_urls(self, urls: Iterable[str]) -> int:
        items = list(urls)[:MAX_PURGE_ITEMS]
        return sum(
            self._delete(store, store.index.keys_for_url(u))
            for store in self._stores
            for u in items
        )

    def purge_url(self, url: str) -> int:
        return self.purge_urls([url])

    def purge_prefix(self, prefix: str) -> int:
        if "://" not in prefix:
            raise ValueError("a purge prefix must be an absolute URL (scheme://host/...)")
        return sum(
            self._delete(store, store.index.keys_with_prefix(prefix)) for store in self._stores
        )

    def purge_tags(self, tags: Iterable[str]) -> int:
        items = list(tags)[:MAX_PURGE_ITEMS]
        return sum(
            self._delete(store, store.index.keys_for_tag(t))
            for store in self._stores
            for t in items
        )

    def purge_tag(self, tag: str) -> int:
        return self.purge_tags([tag])

    def purge_host(self, host: str) -> int:
        return sum(self._delete(store, store.index.keys_for_host(host)) for store in self._stores)

    def purge_all(self) -> int:
        return sum(store.clear() for store in self._stores)
