"""``HttpCache``: the API a connection calls; policy (pure) over one ``CacheStore``.

Call sequence for a cacheable request (the edge's ``cache_lookup`` and ``response`` phases)::

    hit = cache.lookup(req, now)                 # -> Lookup(entry, status)
    HIT / STALE / UPDATING -> cache.serve(hit.entry, req, now)   (UPDATING: refresh behind)
    EXPIRED  -> origin request + cache.build_revalidation_headers(hit.entry)
                304 -> cache.update_from_304(hit.entry, resp)  -> serve it (REVALIDATED)
                5xx/unreachable and cache.stale_if_error_ok(entry, now) -> serve it (STALE)
    MISS     -> origin request (coalesced by key: ``cache.primary_key(req)``)
    BYPASS   -> origin request, never stored
    after the origin answers: d = cache.should_store(req, resp, now); if d: cache.store(...)
                              cache.invalidate(req, status, headers) for unsafe methods

``lookup`` and ``store`` touch the store synchronously: with a ``MemoryStore`` call them on the
loop; with a ``DiskStore`` call them from a thread executor. Everything else is pure.

Variants (RFC 9111 §4.1): a response with ``Vary`` is stored at ``primary + SEP + vary_key`` and
a *variant marker* at ``primary`` records the Vary field names, so a lookup knows which request
fields select the variant. ``Lookup.vary_miss`` tells Cache-Status to say ``fwd=vary-miss``.
Tags come from the response's ``Cache-Tag`` field (comma-separated, bounded), which is removed
from the stored headers.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from shieldwall.cache._fields import Headers, get_first, list_values, without
from shieldwall.cache.conditional import build_revalidation_headers as _reval_headers
from shieldwall.cache.conditional import update_from_304 as _update_from_304
from shieldwall.cache.config import CachePolicy
from shieldwall.cache.entry import VARIANT_SEP, VARY_MARKER, CacheEntry, RequestFacts, ResponseFacts
from shieldwall.cache.freshness import date_value, parse_age, remaining_ttl
from shieldwall.cache.invalidate import invalidation_urls
from shieldwall.cache.key import KeyPolicy, cache_key
from shieldwall.cache.policy import StoreDecision, vary_key
from shieldwall.cache.policy import should_store as _should_store
from shieldwall.cache.purge import Purger
from shieldwall.cache.reuse import evaluate
from shieldwall.cache.reuse import stale_if_error_ok as _stale_if_error_ok
from shieldwall.cache.serve import Served
from shieldwall.cache.serve import serve as _serve
from shieldwall.cache.status import CacheStatus
from shieldwall.cache.store import CacheStore

__all__ = ["MAX_TAGS", "HttpCache", "Lookup"]

MAX_TAGS = 32  # Cache-Tag values kept per entry
MAX_TAG_LEN = 128  # characters per tag; longer tags are dropped
_CACHEABLE_METHODS = frozenset({"GET", "HEAD"})


@dataclass(frozen=True, slots=True)
class Lookup:
    entry: CacheEntry | None
    status: CacheStatus
    key: str = ""  # primary key (coalescing key); "" for BYPASS
    vary_miss: bool = False

    def __iter__(self) -> Iterator[CacheEntry | CacheStatus | None]:
        """Unpacks as ``entry, status``."""
        yield self.entry
        yield self.status


class HttpCache:
    """One zone's view of a (possibly shared) store."""

    __slots__ = ("backend", "key_policy", "policy", "purger")

    def __init__(
        self,
        store: CacheStore,
        policy: CachePolicy | None = None,
        key_policy: KeyPolicy | None = None,
    ) -> None:
        self.backend = store
        self.policy = policy or CachePolicy()
        self.key_policy = key_policy or KeyPolicy()
        self.purger = Purger(store)

    def primary_key(self, req: RequestFacts) -> str:
        return cache_key(self.key_policy, req)

    def lookup(self, req: RequestFacts, now: float) -> Lookup:
        if req.method not in _CACHEABLE_METHODS:
            return Lookup(None, CacheStatus.BYPASS)
        primary = self.primary_key(req)
        entry = self.backend.get(primary)
        if entry is None:
            return Lookup(None, CacheStatus.MISS, primary)
        if entry.is_vary_marker:
            entry = self.backend.get(
                primary + VARIANT_SEP + vary_key(entry.vary_names, req.headers)
            )
            if entry is None:
                return Lookup(None, CacheStatus.MISS, primary, vary_miss=True)
        return Lookup(entry, evaluate(entry, req.headers, self.policy, now), primary)

    def should_store(self, req: RequestFacts, resp: ResponseFacts, now: float) -> StoreDecision:
        del now  # decisions depend on the exchange's own timestamps
        return _should_store(req, resp, self.policy)

    def store(
        self,
        req: RequestFacts,
        resp: ResponseFacts,
        body: bytes,
        now: float,
        decision: StoreDecision | None = None,
    ) -> CacheEntry | None:
        """Store a complete response; returns the entry, or None when not stored."""
        d = decision if decision is not None else _should_store(req, resp, self.policy)
        if not d.store or len(body) > self.policy.max_object_bytes:
            return None
        declared = get_first(resp.headers, b"content-length")
        if declared is not None and declared.strip() != str(len(body)).encode():
            return None  # truncated or padded body: never pin it
        tags = tuple(
            t.decode("latin-1")
            for t in list_values(resp.headers, b"cache-tag")
            if len(t) <= MAX_TAG_LEN
        )[:MAX_TAGS]
        headers = tuple(without(resp.headers, d.strip | {b"cache-tag"}))
        primary = self.primary_key(req)
        vk = vary_key(d.vary_names, req.headers) if d.vary_names else ""
        key = primary + VARIANT_SEP + vk if d.vary_names else primary
        entry = CacheEntry(
            status=resp.status,
            headers=headers,
            body=body,
            request_time=resp.request_time,
            response_time=resp.response_time,
            date=date_value(resp.headers, resp.response_time),
            stored_at=now,
            age_value=parse_age(get_first(resp.headers, b"age")),
            url=req.url,
            host=req.host.lower(),
            key=key,
            vary_key=vk,
            vary_names=d.vary_names,
            tags=tags,
        )
        if d.vary_names:
            marker = CacheEntry(
                status=VARY_MARKER, headers=(), body=b"", request_time=now, response_time=now,
                date=now, stored_at=now, url=req.url, host=entry.host, key=primary,
                vary_names=d.vary_names, tags=tags,
            )  # fmt: skip
            if not self.backend.put(primary, marker):
                return None
        elif (old := self.backend.get(primary)) is not None and old.is_vary_marker:
            self.backend.delete(primary)  # the resource stopped varying
        return entry if self.backend.put(key, entry) else None

    def build_revalidation_headers(self, entry: CacheEntry) -> list[tuple[bytes, bytes]]:
        return _reval_headers(entry)

    def update_from_304(self, entry: CacheEntry, resp: ResponseFacts) -> CacheEntry | None:
        """Merge a 304 into ``entry`` and store the result; None: the 304 did not match."""
        updated = _update_from_304(entry, resp)
        if updated is not None:
            self.backend.put(updated.key, updated)
        return updated

    def serve(self, entry: CacheEntry, req: RequestFacts, now: float) -> Served:
        return _serve(entry, req.method, req.headers, now)

    def stale_if_error_ok(self, entry: CacheEntry, now: float) -> bool:
        return _stale_if_error_ok(entry, self.policy, now)

    def ttl(self, entry: CacheEntry, now: float) -> float:
        return remaining_ttl(entry, now, self.policy)

    def invalidate(self, req: RequestFacts, status: int, resp_headers: Headers) -> int:
        """§4.4: drop stored responses after a successful unsafe request."""
        return self.purger.purge_urls(invalidation_urls(req, status, resp_headers))
