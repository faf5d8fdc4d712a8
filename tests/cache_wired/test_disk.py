"""The disk tier outlives the worker: a new EdgeServer and services over the same data dir."""

from __future__ import annotations

from pathlib import Path

from tests.cache_wired.conftest import Clock, cfg, services, wired
from tests.support.origin import Origin, OriginResponse, ReceivedRequest

from shieldwall.config.cache import CacheConfig


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
