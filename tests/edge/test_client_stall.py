"""A client that stops reading is bounded by ``ServerLimits.client_send_timeout``.

The sweep is driven with an injected clock (``conn.check(now)``) once the connection is in the
stalled state, so nothing here waits for the timeout itself.
"""

from __future__ import annotations

import asyncio
import socket

from tests.support.edge import RunningEdge, edge_config, running_edge
from tests.support.origin import Origin, OriginResponse

from shieldwall.config.model import ServerLimits
from shieldwall.edge.connection import ClientConnection

BIG = 20 * 1024 * 1024


async def until(cond: object, what: str, tries: int = 500) -> None:
    for _ in range(tries):
        if cond():  # type: ignore[operator]
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def only_conn(edge: RunningEdge) -> ClientConnection:
    (conn,) = edge.server.worker.connections
    return conn


async def small_buffer_client(edge: RunningEdge) -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", edge.port))
    return sock


async def test_client_that_never_reads_is_aborted_after_client_send_timeout() -> None:
    body = b"x" * BIG
    limits = ServerLimits(client_send_timeout=5.0)
    async with (
        Origin(lambda q: OriginResponse(body=body)) as origin,
        running_edge(edge_config(origin.port, limits=limits)) as edge,
    ):
        sock = await small_buffer_client(edge)
        try:
            sock.send(b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")
            await until(lambda: len(edge.server.worker.connections) == 1, "accepted")
            conn = only_conn(edge)
            await until(lambda: conn.send_stalled_since > 0, "client write buffer full")
            now = asyncio.get_running_loop().time()
            conn.check(now + 1.0)  # the origin waits on us, and the client is within its time
            assert edge.server.active_connections == 1 and conn.upstream is not None
            conn.check(now + 6.0)
            await until(lambda: edge.server.active_connections == 0, "client aborted")
            await until(lambda: origin.open_connections == 0, "origin connection dropped")
            (entry,) = edge.access_log.entries
            assert entry.error == "client_send_timeout" and entry.status == 200
            assert 0 < entry.bytes_out < BIG
        finally:
            sock.close()


async def test_unflushed_response_after_close_is_bounded_too() -> None:
    """Below the high-water mark the transport never pauses; a close then waits for a flush
    that never comes. That wait is bounded by the same limit."""
    body = b"y" * (4 * 1024 * 1024)
    limits = ServerLimits(
        client_send_timeout=5.0, write_buffer_high=64 * 1024 * 1024, write_buffer_low=1024
    )
    async with (
        Origin(lambda q: OriginResponse(body=body)) as origin,
        running_edge(edge_config(origin.port, limits=limits)) as edge,
    ):
        sock = await small_buffer_client(edge)
        try:
            sock.send(b"GET / HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n")
            await until(lambda: len(edge.access_log.entries) == 1, "response complete")
            conn = only_conn(edge)  # closed by us, still flushing
            assert conn.send_stalled_since > 0
            conn.check(asyncio.get_running_loop().time() + 6.0)
            await until(lambda: edge.server.active_connections == 0, "connection released")
            assert edge.server.worker.per_ip == {}
        finally:
            sock.close()
