"""Revalidation keeps the disk tier's writes bounded (``ZoneCache.revalidated``).

A real origin answers conditional requests with 304; the edge runs with a real disk tier and
an injected cache clock, so every request below finds the entry stale and revalidates. The
disk copy is written when the object is stored and once more at the first 304, then only
when a 304 changes a stored field beyond Date/Age, at most once per ``DISK_REWRITE_INTERVAL``.
After a restart the (older) disk copy is still a complete response: it revalidates.
"""

from __future__ import annotations

import math
from email.utils import formatdate
from pathlib import Path

import pytest
from tests.cache_wired.conftest import T0, Clock, cfg, services, wired
from tests.support.origin import Origin, OriginResponse, ReceivedRequest

from shieldwall.cache import DiskStore
from shieldwall.config.cache import CacheConfig
from shieldwall.edge.cache.service import DISK_REWRITE_INTERVAL
from shieldwall.edge.services import WorkerServices

pytestmark = pytest.mark.timeout(60)

BODY = b"revalidate me " * 100
LAST_MODIFIED = formatdate(T0 - 10, usegmt=True)


def disk_of(svc: WorkerServices) -> DiskStore:
    disk = svc.cache.disk
    assert disk is not None
    return disk


class LastModifiedOrigin:
    """Sends only Last-Modified (heuristic freshness: a tenth of the time since it) and a Date
    from the cache clock; a conditional request gets a 304, with ``extra`` fields if set."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.conditionals = 0
        self.extra: list[tuple[str, str]] = []

    def __call__(self, req: ReceivedRequest) -> OriginResponse:
        date = [("Date", formatdate(self.clock.now, usegmt=True))]
        if req.headers.get("if-modified-since") == LAST_MODIFIED:
            self.conditionals += 1
            return OriginResponse(304, date + self.extra, b"")
        return OriginResponse(
            headers=[*date, ("Last-Modified", LAST_MODIFIED), ("Content-Type", "text/css")],
            body=BODY,
        )


async def test_304s_that_change_only_date_do_not_rewrite_the_disk_copy(tmp_path: Path) -> None:
    clock = Clock()
    handler = LastModifiedOrigin(clock)
    store = CacheConfig(disk_bytes=64 << 20)
    rounds = 40
    async with Origin(handler) as origin:
        config = cfg(tmp_path, origin.port, store=store)
        svc = services(clock)
        async with wired(config, svc) as e:
            assert (await e.fetch("/r.css"))[1]["sw-cache"] == "MISS"
            for _ in range(rounds):
                stale_after = 0.1 * (clock.now - (T0 - 10))  # the heuristic lifetime
                clock.now += stale_after + 1
                status, h, body = await e.fetch("/r.css")
                assert (status, h["sw-cache"], body) == (200, "REVALIDATED", BODY)
        assert handler.conditionals == rounds
        # stop() waited for the writes: the store's file, then the first 304's rewrite only
        assert disk_of(svc).writes == 2

        # a new worker finds the older disk copy, finds it stale and revalidates it
        clock.now += clock.now - T0
        async with wired(config, services(clock)) as e:
            status, h, body = await e.fetch("/r.css")
            assert (status, h["sw-cache"], body) == (200, "REVALIDATED", BODY)
        assert handler.conditionals == rounds + 1
        assert len(origin.requests) == rounds + 2


async def test_304s_that_change_stored_fields_rewrite_at_most_once_per_interval(
    tmp_path: Path,
) -> None:
    clock = Clock()
    handler = LastModifiedOrigin(clock)
    store = CacheConfig(disk_bytes=64 << 20)
    rounds, step = 30, 2.0
    async with Origin(handler) as origin:
        config = cfg(tmp_path, origin.port, store=store)
        svc = services(clock)
        async with wired(config, svc) as e:
            assert (await e.fetch("/r.css"))[1]["sw-cache"] == "MISS"
            for i in range(rounds):
                clock.now += step
                handler.extra = [("Cache-Control", "max-age=1"), ("X-Build", str(i))]
                status, h, body = await e.fetch("/r.css")
                assert (status, h["sw-cache"], h["x-build"], body) == (
                    200, "REVALIDATED", str(i), BODY
                )  # fmt: skip
        assert handler.conditionals == rounds
        writes = disk_of(svc).writes
        bound = 2 + math.ceil(rounds * step / DISK_REWRITE_INTERVAL)
        assert 2 < writes <= bound, (writes, bound)

        # the disk copy carries a recent X-Build (one written within the last interval)
        async with wired(config, services(clock)) as e:
            _, h, body = await e.fetch("/r.css")
            assert body == BODY
            assert int(h["x-build"]) >= rounds - 1 - DISK_REWRITE_INTERVAL / step
