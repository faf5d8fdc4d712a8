"""Per-worker cache service: stores (memory tier + disk tier), coalescing, zones, purge.

``CacheService`` is the ``cache`` field of ``WorkerServices``: it outlives config versions.
``provision(config)`` opens the stores once (memory budget, disk directory under
``data_dir/cache``); ``zone(zr)`` returns the compiled ``ZoneCache`` of a ``ZoneRuntime`` (one
dict probe; None when the zone does not cache, so such a zone pays nothing more).

Tiers: the memory tier (S3-FIFO, ``[cache] memory_bytes``) is looked up on the loop; on a
memory miss the disk tier (``DiskStore``, file I/O) is looked up in the service's one-thread
executor and a hit is promoted into memory. Stores write memory at once and disk behind (in
the executor; the entry is already servable from memory). Objects above
``memory_max_object`` live on disk only. Purges run on both tiers (disk in the executor).

Revalidation (a 304) replaces the memory entry at once but rewrites the disk copy only when
it is worth a file write (``disk_rewrite_due``): never for a 304 that changed nothing but
``Date``/``Age`` while memory holds the entry (an origin with heuristic freshness of a fraction
of a second revalidates hundreds of times a second), and otherwise at most once per
``DISK_REWRITE_INTERVAL`` per key. The disk copy may therefore be older than memory's: it is
still a complete stored response, only staler, and after a restart it revalidates. The entry
carries what is on disk (``CacheEntry.disk_headers``/``disk_at``), so the bound needs no table.

The service also holds the origin side that outlives reloads: ``origins`` (per-origin health
and in-flight counts, ``edge/upstream/balancer.py``) and ``health`` (active probes), so the
worker has one place that starts and stops them.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Final

from shieldwall.cache import (
    CacheEntry,
    CachePolicy,
    Coalescer,
    DiskStore,
    HttpCache,
    KeyPolicy,
    MemoryStore,
    Purger,
)
from shieldwall.cache.conditional import lasting_fields_equal, update_from_304
from shieldwall.cache.engine import Lookup
from shieldwall.config.cache import CacheConfig, ZoneCacheConfig
from shieldwall.config.model import Config
from shieldwall.edge.upstream.balancer import Balancer, OriginStates
from shieldwall.edge.upstream.health import HealthChecker

if TYPE_CHECKING:
    from shieldwall.cache import CacheStatus, RequestFacts, ResponseFacts, StoreDecision
    from shieldwall.edge.cache.hot import Hot, HotKey
    from shieldwall.edge.runtime import Runtime, ZoneRuntime

__all__ = ["DISK_REWRITE_INTERVAL", "CacheService", "ZoneCache", "disk_rewrite_due", "policies"]

MAX_BACKGROUND: Final = 10_000  # disk writes / refreshes in flight per worker (more dropped)
# seconds between two rewrites of one key's disk copy by 304s (a rewrite is a file write of the
# whole object; a 304 that changes only Date/Age of an entry memory holds never rewrites)
DISK_REWRITE_INTERVAL: Final = 5.0


def disk_rewrite_due(old: CacheEntry, new: CacheEntry, in_memory: bool) -> bool:
    """Should the 304 that turned ``old`` into ``new`` rewrite the disk copy? Yes when what is
    on disk is unknown; else at most once per ``DISK_REWRITE_INTERVAL``, and only when the
    stored fields changed beyond Date/Age or memory does not hold ``new`` (a disk-only object:
    its disk copy is the only one whose freshness the 304 can renew)."""
    on_disk = old.disk_headers
    if on_disk is None:
        return True
    if new.response_time - old.disk_at < DISK_REWRITE_INTERVAL:
        return False
    return not in_memory or not lasting_fields_equal(on_disk, new.headers)


def policies(zc: ZoneCacheConfig) -> tuple[CachePolicy, KeyPolicy]:
    """The cache core's policy objects for a zone's ``[zones.cache]``."""
    k = zc.key
    policy = CachePolicy(
        honour_client_no_cache=zc.honour_client_no_cache,
        set_cookie="strip" if zc.cache_set_cookie_responses else "bypass",
        store_error_statuses=zc.cache_error_statuses,
        max_object_bytes=zc.max_object_size,
        default_stale_if_error=zc.max_stale if zc.always_online else 0.0,
        heuristic_max=zc.heuristic_max,
    )
    keys = KeyPolicy(
        include_scheme=k.include_scheme,
        ignore_query=k.ignore_query,
        sort_query=k.sort_query,
        ignore_params=frozenset(k.ignore_params),
        allow_params=frozenset(k.allow_params) if k.allow_params else None,
        headers=tuple(h.lower() for h in k.headers),
        cookies=k.cookies,
    )
    return policy, keys


class ZoneCache:
    """One zone's cache for one config version (policy objects over the shared tiers)."""

    __slots__ = (
        "balancer",
        "config",
        "disk",
        "hot",
        "hot_ok",
        "ignore_query",
        "mem",
        "service",
        "zone",
    )

    def __init__(self, service: CacheService, zone: ZoneRuntime, balancer: Balancer) -> None:
        self.service = service
        self.zone = zone
        self.config = zone.config.cache
        self.balancer = balancer
        policy, keys = policies(self.config)
        self.mem = HttpCache(service.memory, policy, keys)
        self.disk = HttpCache(service.disk, policy, keys) if service.disk is not None else None
        # the hit fast path (``hot.py``): only where the key reads no request field
        self.hot: dict[HotKey, Hot] = {}
        self.hot_ok = not keys.headers and not keys.cookies
        self.ignore_query = keys.ignore_query

    def disk_lookup(self, req: RequestFacts, now: float, done: Callable[[Lookup], None]) -> None:
        """Look ``req`` up on disk (executor); promote a hit; call ``done`` on the loop."""
        disk = self.disk
        assert disk is not None
        loop = asyncio.get_running_loop()

        def work() -> tuple[Lookup, CacheEntry | None]:
            look = disk.lookup(req, now)
            marker = None
            if look.entry is not None and look.entry.vary_names:
                marker = disk.backend.get(look.key)
            return look, marker

        fut = self.service.submit(work)

        def land(look: Lookup, marker: CacheEntry | None) -> None:  # on the loop thread
            if look.entry is not None:
                mem = self.service.memory
                if marker is not None:
                    mem.put(marker.key, marker)
                mem.put(look.entry.key, look.entry)
            done(look)

        def finish(f: Future[tuple[Lookup, CacheEntry | None]]) -> None:  # executor thread
            try:
                look, marker = f.result()
            except OSError:
                look, marker = Lookup(None, _miss(), disk.primary_key(req)), None
            loop.call_soon_threadsafe(land, look, marker)

        fut.add_done_callback(finish)

    def service_now(self) -> float:
        return self.service.clock()

    def store(
        self,
        req: RequestFacts,
        resp: ResponseFacts,
        body: bytes,
        now: float,
        decision: StoreDecision,
        on_disk: Callable[[CacheEntry | None], None],
    ) -> CacheEntry | None:
        """Store in memory now and on disk behind; ``on_disk`` reports a disk-only store."""
        entry = self.mem.store(req, resp, body, now, decision)
        disk = self.disk
        if disk is not None:
            fut = self.store_behind(lambda: disk.store(req, resp, body, now, decision))
            if entry is None and fut is not None:
                loop = asyncio.get_running_loop()

                def landed(f: Future[Any]) -> None:
                    stored = f.result() if f.exception() is None else None
                    loop.call_soon_threadsafe(on_disk, stored)

                fut.add_done_callback(landed)
        elif entry is None:
            on_disk(None)
        return entry

    def revalidated(self, entry: CacheEntry, resp: ResponseFacts) -> CacheEntry | None:
        """Merge a 304 into ``entry``: memory now, the disk copy only when due (see the
        module docstring); None: the 304 does not validate ``entry``."""
        updated = update_from_304(entry, resp)
        if updated is None:
            return None
        mem = self.service.memory
        disk = self.disk
        if disk is not None and disk_rewrite_due(entry, updated, mem.admits(updated.size)):
            updated = replace(updated, disk_headers=updated.headers, disk_at=resp.response_time)
            written = updated
            self.store_behind(lambda: disk.backend.put(written.key, written))
        mem.put(updated.key, updated)
        return updated

    def invalidate(self, req: RequestFacts, resp: ResponseFacts) -> None:
        self.mem.invalidate(req, resp.status, resp.headers)
        disk = self.disk
        if disk is not None:
            self.store_behind(lambda: disk.invalidate(req, resp.status, resp.headers))

    def refresh(self, req: RequestFacts, entry: CacheEntry, key: str) -> None:
        """One background refresh per key (stale-while-revalidate)."""
        service = self.service
        if key in service.refreshing or len(service.background) >= MAX_BACKGROUND:
            return
        from shieldwall.edge.cache.refresh import refresh

        service.refreshing.add(key)
        task = asyncio.get_running_loop().create_task(
            refresh(self, req, entry), name="shieldwall-cache-refresh"
        )
        service.background.add(task)

        def done(t: asyncio.Task[None]) -> None:
            service.background.discard(t)
            service.refreshing.discard(key)

        task.add_done_callback(done)

    def store_behind(self, fn: Callable[[], object]) -> Future[Any] | None:
        """Run a disk-tier write in the executor (never awaited on the request path)."""
        if self.disk is None:
            return None
        return self.service.submit(fn)


def _miss() -> CacheStatus:
    from shieldwall.cache import CacheStatus

    return CacheStatus.MISS


class CacheService:
    def __init__(
        self,
        config: CacheConfig | None = None,
        data_dir: str = "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.clock = clock  # wall-clock seconds (the clock of Date and Age); injected in tests
        self.config = config or CacheConfig()
        self.memory = MemoryStore(self.config.memory_bytes)
        self.disk: DiskStore | None = None
        self._data_dir = data_dir
        self.worker_index: int | None = None  # the worker slot (its disk tier directory)
        self._executor: ThreadPoolExecutor | None = None
        self._zones: dict[int, ZoneCache] = {}
        self._version = -1
        self._provisioned = False
        self.coalescer: Coalescer[Any] = Coalescer()
        self.origins = OriginStates()
        self.health = HealthChecker(self.origins)
        self.refreshing: set[str] = set()  # keys with a background refresh in flight
        self.queued: set[Balancer] = set()  # balancers with queued requests (``expire``)
        self.background: set[Future[Any] | asyncio.Task[Any]] = set()

    # -- provisioning ------------------------------------------------------------------
    def provision(self, config: Config) -> None:
        """Open the stores for ``config`` (once: budgets are fixed for the worker's life)."""
        if self._provisioned:
            return
        self._provisioned = True
        cc = self.config = config.cache
        self.memory = MemoryStore(cc.memory_bytes, max_object_bytes=cc.memory_max_object)
        if cc.disk_bytes > 0 and any(z.cache.enabled for z in config.zones):
            root = cc.disk_dir or os.path.join(self._data_dir or config.data_dir, "cache")
            if self.worker_index is not None:
                # one directory per worker slot: a store's index and byte budget are its own
                # (a shared directory would let each worker fill the budget again and evict
                # files another worker still counts); a restarted worker reopens its slot's
                root = os.path.join(root, f"worker-{self.worker_index}")
            self.disk = DiskStore(root, cc.disk_bytes)

    def submit(self, fn: Callable[[], Any]) -> Future[Any]:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="shieldwall-cache")
        fut = self._executor.submit(fn)
        self.background.add(fut)
        fut.add_done_callback(self.background.discard)
        return fut

    def zone(self, rt: Runtime, zone: ZoneRuntime) -> ZoneCache | None:
        """``zone``'s cache (None: caching off). The first call of a newer config version
        provisions the stores (once) and syncs health checks (needs a running loop)."""
        if rt.version > self._version:
            self.follow(rt)
        zc = self._zones.get(id(zone))
        if zc is not None and zc.zone is zone:
            return zc if zone.config.cache.enabled else None
        return self._compile(zone)

    def balancer(self, zone: ZoneRuntime) -> Balancer:
        """The zone's balancer (compiled with its cache, kept while the version lives)."""
        zc = self._zones.get(id(zone))
        if zc is None or zc.zone is not zone:
            self._compile(zone)
            zc = self._zones[id(zone)]
        return zc.balancer

    def _compile(self, zone: ZoneRuntime) -> ZoneCache | None:
        if len(self._zones) > 4096:
            self._zones.clear()  # old config versions: their zones are recompiled on demand
        states = [self.origins.get(zone.name, o) for o in zone.origins]
        zc = ZoneCache(self, zone, Balancer(zone.origins, zone.config.load_balancing, states))
        self._zones[id(zone)] = zc
        return zc if zone.config.cache.enabled else None

    def reload(self, runtime: Runtime) -> None:
        """A new config version: health checks follow it, forgotten origins are pruned."""
        keep = {(z.name, o.host, o.port, o.tls) for z in runtime.zones for o in z.origins}
        self.origins.retain(keep)
        self.health.sync(runtime)

    def follow(self, runtime: Runtime) -> None:
        """Provision for / sync health checks with ``runtime`` when it is a newer version."""
        if runtime.version > self._version:
            self._version = runtime.version
            self.provision(runtime.config)
            self.reload(runtime)

    def expire(self, now: float) -> None:
        """The worker's sweep: time out queued requests of capped origin pools."""
        for b in list(self.queued):
            b.expire(now)
            if not b.waiters:
                self.queued.discard(b)

    # -- purge (Python API; the control plane's purge endpoint calls it per worker) -----
    def _purgers(self) -> tuple[Purger, Purger | None]:
        return Purger(self.memory), Purger(self.disk) if self.disk is not None else None

    async def _purge(self, op: Callable[[Purger], int]) -> int:
        """Objects removed: an object in both tiers counts once (the larger tier count)."""
        mem, disk = self._purgers()
        n = op(mem)
        self.coalescer = Coalescer()  # hit-for-miss marks may name purged keys
        if disk is not None:
            n = max(n, await asyncio.wrap_future(self.submit(lambda: op(disk))))
        return n

    async def purge_url(self, url: str) -> int:
        return await self._purge(lambda p: p.purge_url(url))

    async def purge_prefix(self, prefix: str) -> int:
        return await self._purge(lambda p: p.purge_prefix(prefix))

    async def purge_tag(self, tag: str) -> int:
        return await self._purge(lambda p: p.purge_tag(tag))

    async def purge_host(self, host: str) -> int:
        return await self._purge(lambda p: p.purge_host(host.lower()))

    async def purge_all(self) -> int:
        return await self._purge(lambda p: p.purge_all())

    # -- lifecycle -----------------------------------------------------------------------
    async def start(self, runtime: Runtime | None = None) -> None:
        if runtime is not None:
            self.follow(runtime)

    async def stop(self) -> None:
        await self.health.stop()
        for item in list(self.background):
            if isinstance(item, asyncio.Task):
                item.cancel()
        if self._executor is not None:
            executor, self._executor = self._executor, None
            await asyncio.get_running_loop().run_in_executor(None, executor.shutdown, True)
