"""Shield integration fixtures: a real ``EdgeServer`` whose chains come from the shield's
builders (``chain_builder(services)``), a real origin, and injected clocks.

    async with shield_edge(config, services) as edge: ...

``FakeClock`` drives both ``services.clock`` (rate windows, bans) and ``services.wall_clock``
(tokens, cookies): tests move time with ``advance`` instead of sleeping.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any

import pytest
from tests.support.edge import RecordingLog, RunningEdge, edge_config
from tests.support.origin import Origin

from shieldwall.config.model import Config
from shieldwall.config.security import SecurityConfig, ShieldConfig
from shieldwall.edge.filters.chain import chain_builder
from shieldwall.edge.runtime import RuntimeHolder, build_runtime
from shieldwall.edge.server import AccessLogSink, EdgeServer
from shieldwall.edge.services import WorkerServices

SECRET = "s" * 40  # fixed signing secret: no data_dir file needed in most tests


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/shield/" in str(item.fspath) and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(30))


@dataclass
class FakeClock:
    mono: float = 1000.0
    wall: float = 1_700_000_000.0

    def now(self) -> float:
        return self.mono

    def wall_now(self) -> float:
        return self.wall

    def advance(self, seconds: float) -> None:
        self.mono += seconds
        self.wall += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def services(clock: FakeClock) -> WorkerServices:
    return WorkerServices(clock=clock.now, wall_clock=clock.wall_now)


@pytest.fixture
async def origin() -> AsyncIterator[Origin]:
    o = await Origin().start()
    try:
        yield o
    finally:
        await o.close()


def shield_config(
    origin_port: int,
    *,
    security: SecurityConfig | None = None,
    shield: ShieldConfig | None = None,
    **zone: Any,
) -> Config:
    cfg = edge_config(origin_port, security=security or SecurityConfig(), **zone)
    return replace(cfg, shield=shield or ShieldConfig(secret=SECRET))


@asynccontextmanager
async def shield_edge(
    config: Config, services: WorkerServices, *, sink: AccessLogSink | None = None
) -> AsyncIterator[RunningEdge]:
    """The edge; its access-log sink records every context, or is ``sink`` when given (then
    ``edge.access_log`` stays empty)."""
    holder = RuntimeHolder(build_runtime(config, 1, chain_builder(services)))
    log = RecordingLog()
    server = EdgeServer(holder, access_log=log if sink is None else sink, services=services)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.setblocking(False)
    await services.start()
    await server.start([(replace(config.listeners[0], port=sock.getsockname()[1]), sock)])
    edge = RunningEdge(server, sock.getsockname()[1], log)
    try:
        yield edge
    finally:
        for w in edge.writers:
            w.close()
        await server.drain(0.0)
        await services.stop()
        sock.close()


async def request(
    edge: RunningEdge,
    target: str = "/",
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    source: str = "127.0.0.1",
    host: str = "example.com",
) -> tuple[int, dict[str, str], bytes]:
    """One request on a fresh connection (closed after the answer)."""
    from tests.support.edge import read_response

    reader, writer = await edge.connect(source)
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    await writer.drain()
    async with asyncio.timeout(10):
        return await read_response(reader, head_request=method == "HEAD")
