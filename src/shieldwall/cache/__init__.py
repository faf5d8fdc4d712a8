"""shieldwall.cache: RFC 9111 shared cache core for the edge.

Pure policy (no I/O): ``directives`` (Cache-Control / CDN-Cache-Control), ``freshness``
(lifetime and Age), ``policy`` (storability, Vary), ``reuse`` (serve / revalidate / stale),
``conditional`` (validators, 304 merge), ``serve`` (304, ranges, HEAD), ``invalidate``
(§4.4), ``key`` (cache keys, poison headers, deception armor), ``status`` (Cache-Status).
Stores touch memory budgets and disk: ``memory`` (S3-FIFO), ``disk``; ``purge`` and
``coalesce`` serve the edge; ``engine.HttpCache`` is the facade a connection calls.
"""

from shieldwall.cache.coalesce import Coalesced, Coalescer
from shieldwall.cache.config import CachePolicy
from shieldwall.cache.disk import DiskStore
from shieldwall.cache.engine import HttpCache, Lookup
from shieldwall.cache.entry import CacheEntry, RequestFacts, ResponseFacts
from shieldwall.cache.key import POISON_HEADERS, KeyPolicy, cache_key, strip_poison_headers
from shieldwall.cache.memory import MemoryStore
from shieldwall.cache.policy import StoreDecision, normalize_accept_encoding
from shieldwall.cache.purge import Purger
from shieldwall.cache.serve import Served
from shieldwall.cache.status import CacheStatus, cache_status_header
from shieldwall.cache.store import STORES, AsyncStore, CacheStore

__all__ = [
    "POISON_HEADERS",
    "STORES",
    "AsyncStore",
    "CacheEntry",
    "CachePolicy",
    "CacheStatus",
    "CacheStore",
    "Coalesced",
    "Coalescer",
    "DiskStore",
    "HttpCache",
    "KeyPolicy",
    "Lookup",
    "MemoryStore",
    "Purger",
    "RequestFacts",
    "ResponseFacts",
    "Served",
    "StoreDecision",
    "cache_key",
    "cache_status_header",
    "normalize_accept_encoding",
    "strip_poison_headers",
]
