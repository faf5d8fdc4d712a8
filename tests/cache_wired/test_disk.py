"""The disk tier outlives the worker: a new EdgeServer and services over the same data dir."""

from __future__ import annotations

from pathlib import Path

from tests.cache_wired.conftest import Clock, cfg, services, wired
from tests.support.origin import Origin, OriginResponse, ReceivedRequest

from shieldwall.config.cache import CacheConfig
from shieldwall.edge.services import WorkerServices


def origin_fn(req: ReceivedRequest) -> OriginResponse:
    return OriginResponse(
        headers=[("Cache-Control", "max-age=600"), ("Content-Type", "text/css")],
        body=b"persist " * 64,
    )


async def test_disk_tier_survives_restart(tmp_path: Path) -> None:
    clock = Clock()
    store = CacheConfig(disk_bytes=64 << 20)
    config = cfg(tmp_path, 0, store=store)
    async with Origin(origin_fn) as origin:
        config = cfg(tmp_path, origin.port, store=store)
        async with wired(config, services(clock)) as e:
            assert (await e.fetch("/p.css"))[1]["sw-cache"] == "MISS"
            assert (await e.fetch("/p.css"))[1]["sw-cache"] == "HIT"
        # stop() waited for the disk writes; a fresh worker finds the object on disk
        clock.now += 5
        async with wired(config, services(clock)) as e:
            status, h, body = await e.fetch("/p.css")
            assert (status, body, h["sw-cache"], h["age"]) == (200, b"persist " * 64, "HIT", "5")
        assert len(origin.requests) == 1
        assert any((tmp_path / "cache").rglob("*.swc"))


async def test_each_worker_slot_has_its_own_disk_tier(tmp_path: Path) -> None:
    """Worker slots keep separate directories (their own index and byte budget); a restarted
    worker of a slot finds that slot's objects, another slot does not see them."""
    clock = Clock()
    store = CacheConfig(disk_bytes=64 << 20)

    def slot(index: int) -> WorkerServices:
        svc = services(clock)
        svc.cache.worker_index = index
        return svc

    async with Origin(origin_fn) as origin:
        config = cfg(tmp_path, origin.port, store=store)
        async with wired(config, slot(0)) as e:
            assert (await e.fetch("/p.css"))[1]["sw-cache"] == "MISS"
        assert any((tmp_path / "cache" / "worker-0").rglob("*.swc"))
        assert not (tmp_path / "cache" / "worker-1").exists()
        async with wired(config, slot(1)) as e:
            assert (await e.fetch("/p.css"))[1]["sw-cache"] == "MISS"  # slot 1's own tier
        async with wired(config, slot(0)) as e:
            assert (await e.fetch("/p.css"))[1]["sw-cache"] == "HIT"  # slot 0 restarted
        assert len(origin.requests) == 2
