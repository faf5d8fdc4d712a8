"""The edge's cache phase: glue between the data path and the pure cache core (``cache/``).

- ``service.CacheService``: per-worker tiers (memory + disk), coalescer, compiled zones, purge
  API, origin states and health checks (the ``cache`` field of ``WorkerServices``);
- ``txn.CacheTxn``: one request's cache_lookup/response phases (the data path's only seam);
- ``render``: the bytes of a cached answer and our ``sw-cache`` / ``Cache-Status`` lines;
- ``refresh``: background revalidation for stale-while-revalidate.
"""

from shieldwall.edge.cache.render import STATUS_HEADER
from shieldwall.edge.cache.service import CacheService, ZoneCache
from shieldwall.edge.cache.txn import ANSWER, FORWARD, RELAY, REPLACE, WAIT, CacheTxn

__all__ = [
    "ANSWER",
    "FORWARD",
    "RELAY",
    "REPLACE",
    "STATUS_HEADER",
    "WAIT",
    "CacheService",
    "CacheTxn",
    "ZoneCache",
]
