"""Branded error pages, strict framing on the wire, limits, timeouts and connection caps."""

from __future__ import annotations

import asyncio
import json
import socket

import pytest
from tests.support.edge import edge_config, read_response, running_edge
from tests.support.origin import Origin, OriginResponse, ReceivedRequest

from shieldwall.config.model import ServerLimits, ZoneLimits


async def assert_closed(r: asyncio.StreamReader) -> None:
    assert await asyncio.wait_for(r.read(), 5) == b""


async def test_unknown_host_421_html_and_json() -> None:
    async with Origin() as origin, running_edge(edge_config(origin.port)) as edge:
        r, w = await edge.connect()
        w.write(b"GET / HTTP/1.1\r\nHost: nope.test\r\n\r\n")
        status, headers, body = await read_response(r)
        assert status == 421 and headers["content-type"].startswith("text/html")
        assert headers["sw-request-id"].encode() in body
        w.write(b"GET / HTTP/1.1\r\nHost: nope.test\r\nAccept: application/json\r\n\r\n")
        status, headers, body = await read_response(r)
        doc = json.loads(body)
        assert status == 421 and doc["request_id"] == headers["sw-request-id"]
        assert edge.access_log.entries[-1].request_id == doc["request_id"]
        assert origin.requests == []


async def test_origin_refused_502() -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    async with running_edge(edge_config(port)) as edge:
        r, w = await edge.connect()
        w.write(b"GET / HTTP/1.1\r\nHost: example.com\r\nAccept: application/json\r\n\r\n")
        status, _, body = await read_response(r)
        assert status == 502 and json.loads(body)["status"] == 502
        assert edge.access_log.entries[0].error == "upstream_refused"


async def test_origin_timeout_504() -> None:
    async with (
        Origin(lambda q: OriginResponse(delay=5)) as origin,
        running_edge(edge_config(origin.port, zone_limits=ZoneLimits(read_timeout=0.2))) as edge,
    ):
        r, w = await edge.connect()
        w.write(b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")
        status, _, _ = await read_response(r)
        assert status == 504


@pytest.mark.parametrize(
    "raw",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nabc",
        b"NOT HTTP\r\n\r\n",
    ],
)
async def test_invalid_origin_response_502_and_connection_not_reused(raw: bytes) -> None:
    calls = 0

    def handler(req: ReceivedRequest) -> OriginResponse:
        nonlocal calls
        calls += 1
        return OriginResponse(raw=raw) if calls == 1 else OriginResponse(body=b"fine")

    async with Origin(handler) as origin, running_edge(edge_config(origin.port)) as edge:
        r, w = await edge.connect()
        w.write(b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")
        assert (await read_response(r))[0] == 502
        w.write(b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")
        assert (await read_response(r))[2] == b"fine"
        assert [q.conn_id for q in origin.requests] == [1, 2]


async def test_truncated_origin_body_aborts_client_and_no_reuse() -> None:
    raw = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort"
    async with (
        Origin(lambda q: OriginResponse(raw=raw, close=True)) as origin,
        running_edge(edge_config(origin.port)) as edge,
    ):
        r, w = await edge.connect()
        w.write(b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")
        data = await asyncio.wait_for(r.read(), 5)
        assert data.endswith(b"short")
        assert edge.server.worker.pool.idle_count() == 0


@pytest.mark.parametrize(
    "req",
    [
        b"POST / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 3\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
        b"GET /smuggled HTTP/1.1\r\nHost: example.com\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: example.com\r\n"
        b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: example.com\r\nX-A: b\r\n c\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\nHost: example.com\r\n\r\n",
        b"GET / HTTP/1.1\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n",
    ],
)
async def test_smuggling_on_the_wire_400_and_closed(req: bytes) -> None:
    async with Origin() as origin, running_edge(edge_config(origin.port)) as edge:
        r, w = await edge.connect()
        w.write(req)
        status, headers, _ = await read_response(r)
        assert status == 400 and headers["connection"] == "close"
        await assert_closed(r)
        assert all(q.target != "/smuggled" for q in origin.requests)


async def test_size_limits_414_431_413() -> None:
    limits = ServerLimits(max_uri_bytes=100, max_header_bytes=2048)
    cfg = edge_config(0, limits=limits, zone_limits=ZoneLimits(max_body_bytes=10))
    async with Origin() as origin, running_edge(cfg) as edge:
        _ = origin
        cases = [
            (b"GET /" + b"a" * 200 + b" HTTP/1.1\r\nHost: example.com\r\n\r\n", 414),
            (b"GET / HTTP/1.1\r\nHost: example.com\r\nX: " + b"v" * 3000 + b"\r\n\r\n", 431),
            (b"POST / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 11\r\n\r\n", 413),
            (
                b"POST / HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"8\r\n12345678\r\n8\r\n12345678\r\n",
                413,
            ),
        ]
        for req, expected in cases:
            r, w = await edge.connect()
            w.write(req)
            assert (await read_response(r))[0] == expected
            await assert_closed(r)


async def test_header_deadline_408_and_idle_timeout() -> None:
    limits = ServerLimits(header_timeout=0.2, idle_timeout=0.2)
    async with Origin() as origin, running_edge(edge_config(origin.port, limits=limits)) as edge:
        r, w = await edge.connect()
        w.write(b"GET / HTTP/1.1\r\nHost: exa")
        assert (await read_response(r))[0] == 408
        await assert_closed(r)
        r, w = await edge.connect()
        w.write(b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")
        assert (await read_response(r))[0] == 200
        await assert_closed(r)  # idle keep-alive connection closed by the sweep


async def test_per_ip_connection_cap() -> None:
    limits = ServerLimits(max_connections_per_ip=2)
    async with Origin() as origin, running_edge(edge_config(origin.port, limits=limits)) as edge:
        conns = [await edge.connect("127.0.0.2") for _ in range(2)]
        r3, _ = await edge.connect("127.0.0.2")
        await assert_closed(r3)
        r4, w4 = await edge.connect("127.0.0.3")  # another address is not affected
        w4.write(b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")
        assert (await read_response(r4))[0] == 200
        for _, w in conns:
            w.close()
        w4.close()
        for _ in range(100):
            if not edge.server.worker.per_ip:
                break
            await asyncio.sleep(0.01)
        assert edge.server.worker.per_ip == {}
