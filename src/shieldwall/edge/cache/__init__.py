"""The edge's cache phase: glue between the data path and the pure cache core (``cache/``).

- ``service.CacheService``: per-worker tiers (memory + disk), coalescer, compiled zones, purge
  API, origin states and health checks (the ``cache`` field of ``WorkerServices``);
- ``txn.CacheTxn``: one request's cache_lookup/response phases (the data path's only seam);
- ``render``: the bytes of a cached answer and our ``sw-cache`` / ``Cache-Status`` lines;
- ``refresh``: background revalidation for stale-while-revalidate.

Wiring into the data path (pending the performance work; each hook is one branch):

- ``Exchange.start_request`` after the request_headers chain: ``zc =
  services.cache.zone(rt, zone)``; None -> today's path. Else ``txn = CacheTxn.begin(zc, ctx,
  wall_now)``: ANSWER -> ``self.answer(status, txn.answer(worker.response_extra(id), close),
  close)``; WAIT -> ``txn.wait(self._cache_ready)`` (``_cache_ready`` re-dispatches);
  FORWARD -> build the origin head from ``txn.method``/``txn.headers``, keep ``self.txn``.
- origin choice: ``b = services.cache.balancer(zone)``; ``i = b.pick(loop.time(), key)``
  (FULL -> ``b.enqueue(waiter)`` or 503 + Retry-After / ``txn.on_error`` stale; NONE -> 502);
  ``b.acquire(i)`` ... ``b.release(i)`` + ``b.report(i, ok, now)`` when the exchange ends;
  connect errors of idempotent requests retry ``b.pick(..., exclude=tried)`` up to ``retries``.
- ``ResponseRelay.upstream_head``: ``if txn: act = txn.on_head(head.status, head.raw, now)``;
  REPLACE -> drop the origin, answer ``txn.answer(...)``; RELAY -> ``extra += txn.lines``,
  skip body writes when ``txn.head_only``. ``upstream_body``: ``txn.on_body(data)``;
  ``upstream_end``: ``txn.on_end(now)``; ``upstream_error``: ``if txn.on_error(now)`` answer
  stale; ``connection_lost`` / abandoned exchange: ``txn.abort()``.
- ``EdgeServer.start``: ``await services.cache.start(runtime)``; ``reload``:
  ``services.cache.reload(runtime)``; ``Worker.sweep``: ``balancer.expire(now)``.
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
