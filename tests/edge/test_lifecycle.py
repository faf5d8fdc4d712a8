"""Upstream pool lifetime and reuse rules, separate upstream timeouts, and ``drain()``."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct

import pytest
from tests.support.edge import edge_config, read_response, running_edge
from tests.support.origin import Origin, OriginResponse, ReceivedRequest

from shieldwall.config.model import ZoneLimits

GET = b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"


async def until(cond: object, what: str, tries: int = 500) -> None:
    for _ in range(tries):
        if cond():  # type: ignore[operator]
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


async def test_pool_idle_timeout_closes_idle_upstream() -> None:
    zl = ZoneLimits(pool_idle_timeout=30.0)
    async with (
        Origin() as origin,
        running_edge(edge_config(origin.port, zone_limits=zl)) as edge,
    ):
        r, w = await edge.connect()
        w.write(GET)
        assert (await read_response(r))[0] == 200
        pool = edge.server.worker.pool
        assert pool.idle_count() == 1
        now = asyncio.get_running_loop().time()
        pool.sweep(now + 29.0)  # injected clock: not yet
        assert pool.idle_count() == 1 and origin.open_connections == 1
        pool.sweep(now + 31.0)
        assert pool.idle_count() == 0
        await until(lambda: origin.open_connections == 0, "origin connection closed")
        w.write(GET)
        assert (await read_response(r))[0] == 200
        assert [q.conn_id for q in origin.requests] == [1, 2]


async def test_pool_drops_connection_the_origin_closed() -> None:
    async with Origin() as origin, running_edge(edge_config(origin.port)) as edge:
        r, w = await edge.connect()
        w.write(GET)
        assert (await read_response(r))[0] == 200
        for t in list(origin._writers):  # the origin's own idle timeout
            t.close()
        await until(lambda: origin.open_connections == 0, "origin closed")
        await until(lambda: edge.server.worker.pool.idle_count() == 0, "pool noticed")
        w.write(GET)
        assert (await read_response(r))[0] == 200


@pytest.mark.parametrize(
    "first",
    [
        OriginResponse(raw=b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA"),
        OriginResponse(raw=b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok"),
        OriginResponse(raw=b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"),
        OriginResponse(
            raw=b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\nX"
        ),
    ],
    ids=["extra-bytes", "conn-close", "http10", "chunked-extra"],
)
async def test_upstream_not_reused_after_unclean_response(first: OriginResponse) -> None:
    calls = 0

    def handler(req: ReceivedRequest) -> OriginResponse:
        nonlocal calls
        calls += 1
        return first if calls == 1 else OriginResponse(body=b"second")

    async with Origin(handler) as origin, running_edge(edge_config(origin.port)) as edge:
        r, w = await edge.connect()
        w.write(GET)
        status, _, body = await read_response(r)
        assert (status, body) == (200, b"ok")
        w.write(GET)
        assert (await read_response(r))[2] == b"second"
        assert [q.conn_id for q in origin.requests] == [1, 2]


async def test_upstream_not_reused_after_timeout() -> None:
    gate = asyncio.Event()

    async def handler(req: ReceivedRequest) -> OriginResponse:
        if req.target == "/slow":
            await gate.wait()
        return OriginResponse(body=b"x")

    zl = ZoneLimits(read_timeout=0.2)
    async with (
        Origin(handler) as origin,
        running_edge(edge_config(origin.port, zone_limits=zl)) as edge,
    ):
        r, w = await edge.connect()
        w.write(b"GET /slow HTTP/1.1\r\nHost: example.com\r\n\r\n")
        assert (await read_response(r))[0] == 504
        assert edge.access_log.entries[-1].error == "upstream_timeout"
        gate.set()
        w.write(GET)
        assert (await read_response(r))[0] == 200
        assert [q.conn_id for q in origin.requests] == [1, 2]


async def test_upstream_not_reused_after_client_abort() -> None:
    gate = asyncio.Event()

    async def handler(req: ReceivedRequest) -> OriginResponse:
        if req.target == "/slow":
            await gate.wait()
        return OriginResponse(body=b"x")

    async with Origin(handler) as origin, running_edge(edge_config(origin.port)) as edge:
        r, w = await edge.connect()
        w.write(GET)
        assert (await read_response(r))[0] == 200
        _, w2 = await edge.connect()
        w2.write(b"GET /slow HTTP/1.1\r\nHost: example.com\r\n\r\n")
        await until(lambda: len(origin.requests) == 2, "request reached the origin")
        assert origin.requests[1].conn_id == 1  # the pooled connection was taken
        sock = w2.transport.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        w2.transport.abort()  # RST: gone for good (a FIN alone is a half-close)
        await until(lambda: len(edge.access_log.entries) == 2, "client abort logged")
        assert edge.access_log.entries[-1].status == 499
        assert edge.server.worker.pool.idle_count() == 0
        gate.set()
        w.write(GET)
        assert (await read_response(r))[0] == 200
        assert origin.requests[-1].conn_id == 2


async def test_send_timeout_when_origin_does_not_read() -> None:
    """The origin never reads the body: send_timeout, not read_timeout, ends the wait."""

    done = asyncio.Event()

    async def stuck(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        await done.wait()
        writer.close()

    server = await asyncio.start_server(stuck, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    zl = ZoneLimits(read_timeout=30.0, send_timeout=0.3)
    size = 16 * 1024 * 1024
    try:
        async with running_edge(edge_config(port, zone_limits=zl)) as edge:
            r, w = await edge.connect()
            w.transport.set_write_buffer_limits(high=size + 1024)
            w.write(b"POST / HTTP/1.1\r\nHost: example.com\r\nContent-Length: %d\r\n\r\n" % size)
            w.write(b"a" * size)
            status, _, _ = await asyncio.wait_for(read_response(r), 5)
            assert status == 504
            assert edge.access_log.entries[0].error == "upstream_timeout"
    finally:
        done.set()
        server.close()
        await server.wait_closed()


async def test_connect_timeout_is_separate_from_read_timeout() -> None:
    # a listener whose accept queue is full drops SYNs: the connect hangs
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(0)
    port = lsock.getsockname()[1]
    fillers = []
    for _ in range(4):
        s = socket.socket()
        s.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            s.connect(("127.0.0.1", port))
        fillers.append(s)
    zl = ZoneLimits(connect_timeout=0.3, read_timeout=30.0)
    try:
        async with running_edge(edge_config(port, zone_limits=zl)) as edge:
            r, w = await edge.connect()
            w.write(GET)
            status, _, _ = await asyncio.wait_for(read_response(r), 5)
            assert status == 504
            assert edge.access_log.entries[0].error == "upstream_timeout"
    finally:
        for s in fillers:
            s.close()
        lsock.close()


async def test_read_timeout_does_not_cut_a_long_upload() -> None:
    """read_timeout runs from the end of the request, not while the client is still sending."""
    zl = ZoneLimits(read_timeout=0.2, min_body_rate=1)
    async with (
        Origin(lambda q: OriginResponse(body=b"%d" % len(q.body))) as origin,
        running_edge(edge_config(origin.port, zone_limits=zl)) as edge,
    ):
        r, w = await edge.connect()
        w.write(b"POST / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 4\r\n\r\na")
        await until(
            lambda: edge.access_log.entries == [] and len(edge.server.worker.connections) == 1,
            "open",
        )
        conn = next(iter(edge.server.worker.connections))
        loop = asyncio.get_running_loop()
        conn.check(loop.time() + 1.0)  # injected clock: long past read_timeout
        w.write(b"bcd")
        status, _, body = await read_response(r)
        assert (status, body) == (200, b"4")


async def test_drain_finishes_in_flight_closes_idle_refuses_new() -> None:
    gate = asyncio.Event()
    arrived = asyncio.Event()

    async def handler(req: ReceivedRequest) -> OriginResponse:
        if req.target == "/slow":
            arrived.set()
            await gate.wait()
        return OriginResponse(body=b"done")

    async with Origin(handler) as origin, running_edge(edge_config(origin.port)) as edge:
        r_idle, w_idle = await edge.connect()
        w_idle.write(GET)
        assert (await read_response(r_idle))[0] == 200
        r_busy, w_busy = await edge.connect()
        w_busy.write(b"GET /slow HTTP/1.1\r\nHost: example.com\r\n\r\n")
        await asyncio.wait_for(arrived.wait(), 5)
        drain = asyncio.create_task(edge.server.drain(10.0))
        assert await asyncio.wait_for(r_idle.read(), 5) == b""  # idle: closed
        with pytest.raises(OSError):
            await asyncio.wait_for(asyncio.open_connection("127.0.0.1", edge.port), 5)
        assert not drain.done()
        gate.set()
        status, headers, body = await read_response(r_busy)
        assert (status, body) == (200, b"done") and headers["connection"] == "close"
        assert await asyncio.wait_for(r_busy.read(), 5) == b""
        await asyncio.wait_for(drain, 5)
        assert edge.server.active_connections == 0


async def test_half_closed_client_gets_its_answer_then_the_connection_closes() -> None:
    """A FIN while a request is in flight: the response is delivered, then the edge closes.
    (Before: the half-open connection stayed until the idle timeout, and a load tool that
    closes 64 busy connections per run used up ``max_connections_per_ip`` within minutes.)"""
    gate = asyncio.Event()

    async def handler(req: ReceivedRequest) -> OriginResponse:
        await gate.wait()
        return OriginResponse(body=b"late")

    async with Origin(handler) as origin, running_edge(edge_config(origin.port)) as edge:
        r, w = await edge.connect()
        w.write(GET)
        await until(lambda: len(origin.requests) == 1, "request reached the origin")
        w.write_eof()
        await asyncio.sleep(0)
        gate.set()
        status, _, body = await read_response(r)
        assert (status, body) == (200, b"late")
        assert await r.read() == b""  # closed by the edge, not left half-open
        await until(lambda: edge.server.active_connections == 0, "connection released")
        assert edge.server.worker.per_ip == {}
