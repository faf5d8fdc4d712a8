"""A stand-in for ``EdgeServer`` so the process model can be tested on its own.

It honours the worker's server contract (``start`` on the given sockets, ``reload`` swaps the
runtime, ``drain`` stops accepting and waits for in-flight requests, ``active_connections``) and
answers every request with ``zone=<zone> pid=<pid> version=<v>``. ``/slow/<seconds>`` answers
after a delay and logs ``slow request started`` first, so a test knows it is in flight.
It is used by ``run_standin.py`` (a supervisor entry point for subprocess tests).
"""

from __future__ import annotations

import asyncio
import os
import socket
from typing import Any

from shieldwall.config.model import ListenerConfig
from shieldwall.edge.context import ConnectionInfo, RequestContext
from shieldwall.edge.runtime import Runtime, RuntimeHolder
from shieldwall.observability.logging import get_logger

log = get_logger("tests.standin")


class StandinServer:
    def __init__(self, holder: RuntimeHolder, access_log: Any, services: Any = None) -> None:
        self.holder = holder
        self.access_log = access_log
        self._servers: list[asyncio.AbstractServer] = []
        self._conns: set[_Conn] = set()
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def active_connections(self) -> int:
        return len(self._conns)

    async def start(self, bindings: list[tuple[ListenerConfig, socket.socket]]) -> None:
        loop = asyncio.get_running_loop()
        for _lc, sock in bindings:
            self._servers.append(await loop.create_server(lambda: _Conn(self), sock=sock))

    def reload(self, runtime: Runtime) -> None:
        self.holder.swap(runtime)

    async def drain(self, timeout: float) -> None:
        for s in self._servers:
            s.close()
        try:
            async with asyncio.timeout(timeout):
                await self._idle.wait()
        except TimeoutError:
            log.warning("drain timed out with %d connections", len(self._conns))

    def track(self, conn: _Conn, alive: bool) -> None:
        if alive:
            self._conns.add(conn)
            self._idle.clear()
        else:
            self._conns.discard(conn)
            if not self._conns:
                self._idle.set()


class _Conn(asyncio.Protocol):
    def __init__(self, server: StandinServer) -> None:
        self.server = server
        self.buf = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass
        self.server.track(self, True)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.track(self, False)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if b"\r\n\r\n" not in self.buf:
            return
        head = self.buf.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
        method, target, _ = head[0].split(b" ", 2)
        host = next(
            (
                line.split(b":", 1)[1].strip()
                for line in head[1:]
                if line.lower().startswith(b"host:")
            ),
            b"",
        ).decode()
        runtime = self.server.holder.current
        peer = self.transport.get_extra_info("peername") if self.transport else ("?", 0)
        conn = ConnectionInfo(peer[0], peer[1], peer[0], peer[1], 0)
        loop = asyncio.get_running_loop()
        ctx = RequestContext(
            conn=conn, runtime=runtime, request_id=os.urandom(4).hex(), started=loop.time()
        )
        ctx.method, ctx.target, ctx.host = method, target, host
        ctx.zone = runtime.zone_for_host(host)
        delay = 0.0
        if target.startswith(b"/slow/"):
            delay = float(target[6:].decode())
            log.info("slow request started")
        loop.call_later(delay, self._answer, ctx)

    def _answer(self, ctx: RequestContext) -> None:
        zone = ctx.zone.name if ctx.zone is not None else "-"
        body = f"zone={zone} pid={os.getpid()} version={ctx.runtime.version}\n".encode()
        ctx.status, ctx.bytes_out = 200, len(body)
        assert self.transport is not None
        self.transport.write(
            b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s"
            % (len(body), body)
        )
        self.transport.close()
        self.server.access_log.log(ctx)
