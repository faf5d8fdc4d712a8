"""Run a real ``EdgeServer`` on 127.0.0.1 port 0 in tests, plus a tiny raw HTTP client.

    async with running_edge(config) as edge:
        reader, writer = await edge.connect()
        ...

``Config`` objects for tests come from ``edge_config(origin_port, **zone_kwargs)``.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from shieldwall.config.model import (
    Config,
    ListenerConfig,
    OriginConfig,
    ServerLimits,
    ZoneConfig,
    ZoneLimits,
)
from shieldwall.edge.context import RequestContext
from shieldwall.edge.runtime import ChainBuilder, Runtime, RuntimeHolder, build_runtime
from shieldwall.edge.server import EdgeServer

__all__ = [
    "RecordingLog",
    "RunningEdge",
    "edge_config",
    "listening_socket",
    "read_response",
    "running_edge",
    "runtime_for",
    "slow_reader",
]


def edge_config(
    origin_port: int,
    *,
    hosts: tuple[str, ...] = ("example.com",),
    limits: ServerLimits | None = None,
    zone_limits: ZoneLimits | None = None,
    trusted: tuple[str, ...] = (),
    **zone: Any,
) -> Config:
    from shieldwall.config.model import TrustedProxiesConfig

    z = ZoneConfig(
        name="test",
        hosts=hosts,
        origins=(OriginConfig(host="127.0.0.1", port=origin_port),),
        limits=zone_limits or ZoneLimits(),
        **zone,
    )
    return Config(
        listeners=(ListenerConfig(address="127.0.0.1", port=0),),
        zones=(z,),
        limits=limits or ServerLimits(),
        trusted_proxies=TrustedProxiesConfig(cidrs=trusted),
    )


@dataclass
class RecordingLog:
    entries: list[RequestContext] = field(default_factory=list)

    def log(self, ctx: RequestContext) -> None:
        self.entries.append(ctx)


@dataclass
class RunningEdge:
    server: EdgeServer
    port: int
    access_log: RecordingLog
    writers: list[asyncio.StreamWriter] = field(default_factory=list)

    async def connect(
        self, source: str = "127.0.0.1"
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        sock = socket.socket()
        sock.bind((source, 0))
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", self.port))
        reader, writer = await asyncio.open_connection(sock=sock, limit=1 << 24)
        self.writers.append(writer)  # closed when the edge stops
        return reader, writer


def runtime_for(config: Config, chain_builder: ChainBuilder | None = None) -> Runtime:
    """Version 1 of ``config``, with ``chain_builder``'s filters (none without one)."""
    if chain_builder is None:
        return build_runtime(config, version=1)
    return build_runtime(config, 1, chain_builder)


def listening_socket(backlog: int) -> socket.socket:
    """A non-blocking listening socket on 127.0.0.1, port 0."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(backlog)
    sock.setblocking(False)
    return sock


async def slow_reader(
    server: EdgeServer, port: int, writers: list[asyncio.StreamWriter]
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A keep-alive client whose socket takes 16 KB at a time, and (once the worker holds
    it) a 64 KB send buffer on the edge's side of every connection: a response larger than
    both backs up into partial writes. The writer joins ``writers`` (closed by the caller's
    edge)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    reader, writer = await asyncio.open_connection(sock=sock, limit=1 << 16)
    writers.append(writer)
    conns = server.worker.connections
    local_port = sock.getsockname()[1]
    for _ in range(500):  # accepted: bounded wait
        if any(c.info.peer_port == local_port for c in conns):
            break
        await asyncio.sleep(0.01)
    else:
        raise AssertionError("the slow reader was not accepted")
    for conn in conns:
        if conn.transport is not None:
            conn.transport.get_extra_info("socket").setsockopt(
                socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024
            )
    return reader, writer


@asynccontextmanager
async def running_edge(
    config: Config,
    *,
    listener: ListenerConfig | None = None,
    chain_builder: ChainBuilder | None = None,
) -> AsyncIterator[RunningEdge]:
    holder = RuntimeHolder(runtime_for(config, chain_builder))
    log = RecordingLog()
    server = EdgeServer(holder, access_log=log)
    sock = listening_socket(128)
    lc = listener or replace(config.listeners[0], port=sock.getsockname()[1])
    await server.start([(lc, sock)])
    edge = RunningEdge(server, sock.getsockname()[1], log)
    try:
        yield edge
    finally:
        for w in edge.writers:
            w.close()
        await server.drain(0.0)
        sock.close()


async def read_response(
    reader: asyncio.StreamReader, *, head_request: bool = False
) -> tuple[int, dict[str, str], bytes]:
    """Read one response (Content-Length, chunked, or until close). Names lower-cased;
    repeated names joined with ', '."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head[:-4].decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        k = k.strip().lower()
        headers[k] = f"{headers[k]}, {v.strip()}" if k in headers else v.strip()
    if head_request or status in (101, 204, 304) or 100 <= status < 200:
        return status, headers, b""
    if headers.get("transfer-encoding", "").lower() == "chunked":
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass
                break
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
        return status, headers, b"".join(parts)
    if "content-length" in headers:
        return status, headers, await reader.readexactly(int(headers["content-length"]))
    return status, headers, await reader.read()
