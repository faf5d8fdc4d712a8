"""Cache wired into the data path: a real ``EdgeServer`` with its own ``WorkerServices``.

``wired(config, services)`` runs the edge on 127.0.0.1 port 0 with the given services (their
``CacheService`` has an injected wall clock, so expiry needs no waiting) and stops both.
``cfg(tmp, origin_ports, ...)`` builds a one-zone config whose data dir is ``tmp`` (the disk
tier never lands in the working directory). ``fetch`` sends one request on a new connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from tests.support.edge import listening_socket, read_response, runtime_for

from shieldwall.config.cache import CacheConfig, LoadBalancingConfig, ZoneCacheConfig
from shieldwall.config.model import (
    Config,
    ListenerConfig,
    OriginConfig,
    ServerLimits,
    ZoneConfig,
    ZoneLimits,
)
from shieldwall.edge.cache.service import CacheService
from shieldwall.edge.runtime import RuntimeHolder
from shieldwall.edge.server import EdgeServer
from shieldwall.edge.services import WorkerServices

T0 = 1_700_000_000.0


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/cache_wired/" in str(item.fspath) and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(30))


class Clock:
    """Injected wall clock of the cache (Date/Age/freshness)."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def cfg(
    tmp: Path,
    ports: list[int] | int,
    *,
    cache: ZoneCacheConfig | None = None,
    lb: LoadBalancingConfig | None = None,
    store: CacheConfig | None = None,
    zone_limits: ZoneLimits | None = None,
    **zone: Any,
) -> Config:
    ports = [ports] if isinstance(ports, int) else ports
    z = ZoneConfig(
        name="test",
        hosts=("example.com",),
        origins=tuple(OriginConfig(host="127.0.0.1", port=p) for p in ports),
        cache=cache or ZoneCacheConfig(),
        load_balancing=lb or LoadBalancingConfig(),
        limits=zone_limits or ZoneLimits(),
        **zone,
    )
    return Config(
        listeners=(ListenerConfig(address="127.0.0.1", port=0),),
        zones=(z,),
        data_dir=str(tmp),
        cache=store or CacheConfig(disk_bytes=0),
        limits=ServerLimits(max_connections_per_ip=2000),  # hundreds of concurrent clients
    )


async def until(cond: Callable[[], bool], timeout: float = 10.0) -> None:
    """Poll ``cond`` (a readiness signal) until true; fail after ``timeout``."""
    async with asyncio.timeout(timeout):
        while not cond():
            await asyncio.sleep(0.005)


def services(clock: Clock | None = None, data_dir: str = "") -> WorkerServices:
    return WorkerServices(cache=CacheService(clock=clock or Clock(), data_dir=data_dir))


@dataclass
class Wired:
    server: EdgeServer
    port: int
    services: WorkerServices
    writers: list[asyncio.StreamWriter] = field(default_factory=list)

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port, limit=1 << 24)
        self.writers.append(writer)
        return reader, writer

    async def fetch(
        self, target: str = "/a.css", method: str = "GET", host: str = "example.com", **h: str
    ) -> tuple[int, dict[str, str], bytes]:
        reader, writer = await self.connect()
        lines = "".join(f"{k.replace('_', '-')}: {v}\r\n" for k, v in h.items())
        writer.write(f"{method} {target} HTTP/1.1\r\nhost: {host}\r\n{lines}\r\n".encode())
        try:
            return await read_response(reader, head_request=method == "HEAD")
        finally:
            writer.close()
            self.writers.remove(writer)


@asynccontextmanager
async def wired(
    config: Config, svc: WorkerServices | None = None, chain_builder: Any = None
) -> AsyncIterator[Wired]:
    svc = svc or services()
    holder = RuntimeHolder(runtime_for(config, chain_builder))
    server = EdgeServer(holder, services=svc)
    sock = listening_socket(1024)
    lc = replace(config.listeners[0], port=sock.getsockname()[1])
    await server.start([(lc, sock)])
    edge = Wired(server, sock.getsockname()[1], svc)
    try:
        yield edge
    finally:
        for w in edge.writers:
            w.close()
        await server.drain(0.0)
        await svc.stop()
        sock.close()
