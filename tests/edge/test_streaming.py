"""Streaming over real sockets: WebSocket tunnels, 20 MB bodies both ways with bounded buffers."""

from __future__ import annotations

import asyncio
import hashlib
import socket

from tests.support.edge import (
    RunningEdge,
    edge_config,
    read_response,
    running_edge,
    slow_reader,
)
from tests.support.origin import Origin, OriginResponse, ReceivedRequest

from shieldwall.edge.connection import ClientConnection

BIG = 20 * 1024 * 1024
BOUND = 2 * 1024 * 1024  # what the proxy may hold for one exchange (limits are 256 KiB each)


async def until(cond: object, what: str, tries: int = 500) -> None:
    """Poll ``cond()`` (bounded: ``tries`` * 10 ms); readiness, not a fixed sleep."""
    for _ in range(tries):
        if cond():  # type: ignore[operator]
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def only_conn(edge: RunningEdge) -> ClientConnection:
    (conn,) = edge.server.worker.connections
    return conn


def ws_upgrade(req: ReceivedRequest) -> OriginResponse:
    assert req.headers["upgrade"] == "websocket"
    assert req.headers["connection"].lower() == "upgrade"
    return OriginResponse(
        status=101,
        headers=[("Upgrade", "websocket"), ("Connection", "Upgrade")],
        body=b"",
        tunnel=True,
    )


async def test_websocket_tunnel_both_ways_and_close_propagates() -> None:
    async with Origin(ws_upgrade) as origin, running_edge(edge_config(origin.port)) as edge:
        r, w = await edge.connect()
        w.write(
            b"GET /ws HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Version: 13\r\n\r\nearly"
        )
        status, headers, _ = await read_response(r)
        assert status == 101 and headers["upgrade"] == "websocket"
        assert "sw-request-id" in headers
        assert await r.readexactly(5) == b"early"  # bytes sent with the head went through
        for size in (1, 1000, 300_000):
            payload = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
            w.write(payload)
            assert await asyncio.wait_for(r.readexactly(len(payload)), 5) == payload
        assert edge.access_log.entries == []  # the exchange is still open
        w.close()
        await until(lambda: origin.open_connections == 0, "origin side closed")
        await until(lambda: len(edge.access_log.entries) == 1, "tunnel logged")
        assert edge.access_log.entries[0].status == 101


async def test_websocket_origin_close_closes_client() -> None:
    async with Origin(ws_upgrade) as origin, running_edge(edge_config(origin.port)) as edge:
        r, w = await edge.connect()
        w.write(
            b"GET /ws HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\n\r\n"
        )
        assert (await read_response(r))[0] == 101
        w.write(b"ping")
        assert await r.readexactly(4) == b"ping"
        await origin.close()
        assert await asyncio.wait_for(r.read(), 5) == b""


async def test_20mb_request_body_streams_with_backpressure() -> None:
    """An origin that does not read: the proxy pauses the client instead of buffering 20 MB."""
    release = asyncio.Event()
    got: list[bytes] = []

    async def slow_origin(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        assert b"content-length: %d" % BIG in head.lower()
        await release.wait()
        h = hashlib.sha256()
        left = BIG
        while left:
            data = await reader.read(min(left, 1 << 20))
            assert data
            h.update(data)
            left -= len(data)
        got.append(h.hexdigest().encode())
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 64\r\n\r\n" + got[0])
        await writer.drain()
        writer.close()

    # fixed small kernel buffers at both ends (no autotuning): what the kernel can hold is
    # then far below BIG, so the client keeping most of the body shows the backpressure
    listen = socket.socket()
    listen.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)  # accepted sockets inherit
    listen.bind(("127.0.0.1", 0))
    server = await asyncio.start_server(slow_origin, sock=listen)
    port = server.sockets[0].getsockname()[1]
    body = hashlib.sha256(b"seed").digest() * (BIG // 32)
    try:
        async with running_edge(edge_config(port)) as edge:
            r, w = await edge.connect()
            w.transport.get_extra_info("socket").setsockopt(
                socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024
            )
            w.transport.set_write_buffer_limits(high=BIG + 1024)  # let the client push it all
            w.write(b"POST /up HTTP/1.1\r\nHost: example.com\r\nContent-Length: %d\r\n\r\n" % BIG)
            w.write(body)
            await until(lambda: len(edge.server.worker.connections) == 1, "accepted")
            conn = only_conn(edge)
            await until(lambda: conn.upstream is not None and conn.paused, "client paused")
            # the proxy stays paused and bounded while the origin is not reading
            for _ in range(20):
                await asyncio.sleep(0.01)
                up = conn.upstream
                assert up is not None and up.transport is not None
                assert up.transport.get_write_buffer_size() <= BOUND
                assert conn.paused
            # still with the client: at most the edge's socket buffers (autotuned) and BOUND
            # are between it and the origin
            assert w.transport.get_write_buffer_size() > BIG // 4
            release.set()
            status, _, digest = await read_response(r)
            assert status == 200 and digest == hashlib.sha256(body).hexdigest().encode()
            assert edge.access_log.entries[0].bytes_in == BIG
    finally:
        release.set()  # a failed assertion must not leave the origin task waiting
        server.close()
        await server.wait_closed()


async def test_20mb_response_to_slow_client_stays_bounded() -> None:
    body = hashlib.sha256(b"resp").digest() * (BIG // 32)
    async with (
        Origin(lambda q: OriginResponse(body=body)) as origin,
        running_edge(edge_config(origin.port)) as edge,
    ):
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)  # no autotuning
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", edge.port))
        r, w = await asyncio.open_connection(sock=sock, limit=1 << 16)
        edge.writers.append(w)
        w.write(b"GET /big HTTP/1.1\r\nHost: example.com\r\n\r\n")
        await until(lambda: len(edge.server.worker.connections) == 1, "accepted")
        conn = only_conn(edge)

        def upstream_paused() -> bool:
            up = conn.upstream
            return up is not None and up.transport is not None and not up.transport.is_reading()

        await until(upstream_paused, "origin reading paused")
        for _ in range(20):  # the client reads nothing: the proxy must not keep reading
            await asyncio.sleep(0.01)
            assert conn.transport is not None
            assert conn.transport.get_write_buffer_size() <= BOUND
            assert upstream_paused()
        status, headers, got = await read_response(r)
        assert status == 200 and int(headers["content-length"]) == BIG
        assert got == body
        w.write(b"GET /again HTTP/1.1\r\nHost: example.com\r\n\r\n")
        assert len((await read_response(r))[2]) == BIG
        assert [q.conn_id for q in origin.requests] == [1, 1]


async def test_chunked_20mb_response_streams() -> None:
    piece = b"z" * 65536
    n = BIG // len(piece)
    async with (
        Origin(lambda q: OriginResponse(chunks=[piece] * n)) as origin,
        running_edge(edge_config(origin.port)) as edge,
    ):
        r, w = await edge.connect()
        w.write(b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")
        status, headers, got = await read_response(r)
        assert status == 200 and headers["transfer-encoding"] == "chunked"
        assert len(got) == BIG and got == piece * n


def _noise(seed: bytes, size: int) -> bytes:
    """Non-periodic bytes: a corrupted or shifted piece can never compare equal."""
    out = bytearray()
    block = seed
    while len(out) < size:
        block = hashlib.sha256(block).digest()
        out += block
    return bytes(out[:size])


async def test_views_of_the_shared_read_buffer_survive_slow_clients() -> None:
    """Origin bodies reach clients as views of one shared read buffer; a client that does
    not take its bytes keeps a view queued, so the buffer is retired, never overwritten."""
    size = 6 * 1024 * 1024
    bodies = {"/a": _noise(b"a", size), "/b": _noise(b"b", size)}
    async with (
        Origin(lambda q: OriginResponse(body=bodies[q.target])) as origin,
        running_edge(edge_config(origin.port)) as edge,
    ):
        loop = asyncio.get_running_loop()
        conns = []
        for path in ("/a", "/b"):
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
            sock.setblocking(False)
            await loop.sock_connect(sock, ("127.0.0.1", edge.port))
            r, w = await asyncio.open_connection(sock=sock, limit=1 << 16)
            edge.writers.append(w)
            w.write(b"GET %s HTTP/1.1\r\nHost: example.com\r\n\r\n" % path.encode())
            conns.append((path, r))
        reads = edge.server.worker.pool.reads
        await until(lambda: reads.retired > 0, "a view kept by a client transport")

        async def slow_read(path: str, r: asyncio.StreamReader) -> None:
            head = await r.readuntil(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200")
            got = bytearray()
            while len(got) < size:
                got += await r.read(256 * 1024)
                await asyncio.sleep(0.001)  # both clients stay slower than the origin
            assert bytes(got) == bodies[path]

        await asyncio.wait_for(asyncio.gather(*(slow_read(p, r) for p, r in conns)), 60)
        assert reads.retired > 0


async def test_large_bodies_are_spliced_whole_and_the_origin_connection_reused() -> None:
    """Between plain TCP sockets the rest of a large Content-Length body goes by splice(2):
    bytes intact and in order (fast and slow readers), origin connection pooled after."""
    size = 2 * 1024 * 1024 + 17
    bodies = {"/a": _noise(b"sa", size), "/b": _noise(b"sb", 300_000)}
    async with (
        Origin(lambda q: OriginResponse(body=bodies[q.target])) as origin,
        running_edge(edge_config(origin.port)) as edge,
    ):
        r, w = await edge.connect()
        for path in ("/a", "/b", "/a"):
            w.write(b"GET %s HTTP/1.1\r\nHost: example.com\r\n\r\n" % path.encode())
            status, _, got = await read_response(r)
            assert status == 200 and got == bodies[path]
        reads = edge.server.worker.pool.reads
        assert reads.spliced > 0  # the splice path was taken
        assert len({q.conn_id for q in origin.requests}) == 1  # one origin connection, reused
        # a slow reader: the client socket fills, the pipe's rest goes through the transport
        r2, w2 = await slow_reader(edge.server, edge.port, edge.writers)
        w2.write(b"GET /a HTTP/1.1\r\nHost: example.com\r\n\r\n" * 2)
        await asyncio.sleep(0.1)
        for _ in range(2):
            head = await asyncio.wait_for(r2.readuntil(b"\r\n\r\n"), 10)
            assert head.startswith(b"HTTP/1.1 200")
            got = bytearray()
            while len(got) < size:
                got += await asyncio.wait_for(r2.readexactly(min(65536, size - len(got))), 10)
                await asyncio.sleep(0)
            assert bytes(got) == bodies["/a"]
        assert edge.access_log.entries[-1].bytes_out > size
