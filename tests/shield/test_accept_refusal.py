"""Phase ``connection`` on a plain listener: a banned peer is reset before a byte is read and
costs no per-IP accounting; everyone else (capped or admitted) still gets an orderly close.

The listener carries ``SO_LINGER`` 0 (inherited by accepted sockets, so refusing a ban is one
reset); ``connection_made`` turns it off for every peer that is not banned, which is what lets
a large answer followed by ``connection: close`` reach a slow reader in full.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from dataclasses import replace

from tests.shield.conftest import request, shield_config, shield_edge
from tests.support.edge import RunningEdge
from tests.support.origin import Origin, OriginResponse, ReceivedRequest

from shieldwall.config.model import ServerLimits
from shieldwall.edge.connection import ClientConnection
from shieldwall.edge.services import WorkerServices

BANNED = "127.0.5.5"
LINGER_OFF = (0, 0)


def linger(sock: object) -> tuple[int, int]:
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_LINGER, 8)  # type: ignore[attr-defined]
    on, secs = struct.unpack("ii", raw)
    return on, secs


async def outcome(edge: RunningEdge, source: str) -> str:
    """The connection's fate: "reset", "eof" (closed without an answer) or "answered"."""
    reader, writer = await edge.connect(source)
    try:
        writer.write(b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")
        await writer.drain()
        async with asyncio.timeout(5):
            data = await reader.read(1)
    except ConnectionResetError:
        return "reset"
    return "answered" if data else "eof"


async def test_banned_peer_is_reset_without_accounting(
    origin: Origin, services: WorkerServices
) -> None:
    services.bans.ban(BANNED, services.clock() + 60.0)
    async with shield_edge(shield_config(origin.port), services) as edge:
        worker = edge.server.worker
        for _ in range(3):
            assert await outcome(edge, BANNED) == "reset"
        assert worker.refused == 3
        assert worker.per_ip == {} and not worker.connections
        assert await outcome(edge, "127.0.5.6") == "answered"  # a neighbour is served
        assert origin.requests and all(r.target == "/" for r in origin.requests)
        services.bans.unban(BANNED)
        assert (await request(edge, source=BANNED))[0] == 200


async def test_caps_still_close_in_order(origin: Origin, services: WorkerServices) -> None:
    config = shield_config(origin.port)
    config = replace(config, limits=ServerLimits(max_connections_per_ip=1))
    async with shield_edge(config, services) as edge:
        worker = edge.server.worker
        _, first = await edge.connect("127.0.6.1")
        for _ in range(100):  # the first connection is admitted once connection_made ran
            if worker.per_ip:
                break
            await asyncio.sleep(0.01)
        assert worker.per_ip == {"127.0.6.1": 1}
        assert await outcome(edge, "127.0.6.1") == "eof"  # over the cap: FIN, not a reset
        assert worker.refused == 1
        first.close()
        for _ in range(100):
            if not worker.per_ip:
                break
            await asyncio.sleep(0.01)
        assert worker.per_ip == {} and not worker.connections


async def test_admitted_peer_gets_its_whole_answer_before_the_close(
    services: WorkerServices,
) -> None:
    big = bytes(range(256)) * (64 * 1024)  # 16 MiB: more than the kernel buffers hold

    async def handler(req: ReceivedRequest) -> OriginResponse:
        return OriginResponse(body=big)

    async with Origin(handler) as origin, shield_edge(shield_config(origin.port), services) as e:
        (server,) = e.server._servers  # the listener's own socket: a reset on close
        (listening,) = getattr(server, "sockets")  # noqa: B009 (typed as a bare Closable)
        assert linger(listening) == (1, 0)
        reader, writer = await e.connect("127.0.7.1")
        writer.write(b"GET /big HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n")
        await writer.drain()
        for _ in range(100):
            if e.server.worker.connections:
                break
            await asyncio.sleep(0.01)
        (conn,) = e.server.worker.connections
        assert isinstance(conn, ClientConnection) and conn.transport is not None
        assert linger(conn.transport.get_extra_info("socket")) == LINGER_OFF
        await asyncio.sleep(0.5)  # a slow reader: the edge finishes and closes meanwhile
        async with asyncio.timeout(20):
            head = await reader.readuntil(b"\r\n\r\n")
            body = await reader.read()  # to EOF: a reset would raise here
        assert head.startswith(b"HTTP/1.1 200") and b"connection: close" in head.lower()
        assert body == big
