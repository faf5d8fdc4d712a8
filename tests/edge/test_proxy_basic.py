"""Basic proxying over real sockets: GET, keep-alive, pipelining order, POST bodies."""

from __future__ import annotations

import asyncio

from tests.support.edge import edge_config, read_response, running_edge
from tests.support.origin import Origin, OriginResponse, ReceivedRequest

from shieldwall.config.cache import ZoneCacheConfig


def echo(req: ReceivedRequest) -> OriginResponse:
    return OriginResponse(body=f"{req.method} {req.target} {len(req.body)}".encode())


async def test_get_is_proxied_with_request_id() -> None:
    async with Origin(echo) as origin, running_edge(edge_config(origin.port)) as edge:
        r, w = await edge.connect()
        w.write(b"GET /hello?x=1 HTTP/1.1\r\nHost: Example.COM:8080\r\n\r\n")
        status, headers, body = await read_response(r)
        assert status == 200
        assert body == b"GET /hello?x=1 0"
        rid = headers["sw-request-id"]
        assert edge.access_log.entries[0].request_id == rid
        assert edge.access_log.entries[0].status == 200
        assert origin.requests[0].headers["host"] == "Example.COM:8080"
        w.close()


async def test_keep_alive_reuses_client_and_upstream_connections() -> None:
    async with Origin(echo) as origin, running_edge(edge_config(origin.port)) as edge:
        r, w = await edge.connect()
        for i in range(5):
            w.write(f"GET /{i} HTTP/1.1\r\nHost: example.com\r\n\r\n".encode())
            status, _, body = await read_response(r)
            assert (status, body) == (200, f"GET /{i} 0".encode())
        assert {q.conn_id for q in origin.requests} == {1}
        w.close()


async def test_pipelined_requests_answered_in_order() -> None:
    async def slow_first(req: ReceivedRequest) -> OriginResponse:
        if req.target == "/0":
            await asyncio.sleep(0.05)
        return echo(req)

    async with Origin(slow_first) as origin, running_edge(edge_config(origin.port)) as edge:
        r, w = await edge.connect()
        w.write(
            b"".join(f"GET /{i} HTTP/1.1\r\nHost: example.com\r\n\r\n".encode() for i in range(6))
        )
        for i in range(6):
            _, _, body = await read_response(r)
            assert body == f"GET /{i} 0".encode()
        w.close()


async def test_post_content_length_and_chunked_bodies() -> None:
    async with (
        Origin(lambda q: OriginResponse(body=q.body[::-1])) as origin,
        running_edge(edge_config(origin.port)) as edge,
    ):
        r, w = await edge.connect()
        w.write(b"POST / HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\n\r\nhello")
        assert (await read_response(r))[2] == b"olleh"
        w.write(
            b"POST / HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"3\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: t\r\n\r\n"
        )
        assert (await read_response(r))[2] == b"edcba"
        assert origin.requests[1].chunked
        assert "x-trailer" not in origin.requests[1].headers
        w.close()


async def test_chunked_response_rechunked_and_trailers_dropped() -> None:
    resp = OriginResponse(chunks=[b"ab", b"cd" * 1000], trailers=[("x-t", "1")])
    async with Origin(lambda q: resp) as origin, running_edge(edge_config(origin.port)) as edge:
        r, w = await edge.connect()
        for _ in range(2):
            w.write(b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")
            _, headers, body = await read_response(r)
            assert body == b"ab" + b"cd" * 1000
            assert headers["transfer-encoding"] == "chunked"
        assert {q.conn_id for q in origin.requests} == {1}
        w.close()


async def test_repeated_origin_head_keeps_its_framing_per_request_method() -> None:
    """The origin sends the same head bytes for GET and HEAD: the worker's last-head shortcut
    must not give the HEAD response the GET's body framing (nor the GET the HEAD's)."""
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\n"

    def handler(req: ReceivedRequest) -> OriginResponse:
        return OriginResponse(raw=head if req.method == "HEAD" else head + b"hello")

    async with Origin(handler) as origin:
        config = edge_config(origin.port, cache=ZoneCacheConfig(enabled=False))
        async with running_edge(config) as edge:
            r, w = await edge.connect()
            for method in ("GET", "GET", "HEAD", "GET", "HEAD", "HEAD", "GET"):
                w.write(f"{method} /x HTTP/1.1\r\nHost: example.com\r\n\r\n".encode())
                status, headers, body = await read_response(r, head_request=method == "HEAD")
                assert (status, headers["content-length"]) == (200, "5")
                assert body == (b"" if method == "HEAD" else b"hello")
            assert {q.conn_id for q in origin.requests} == {1}  # one pooled origin connection
            w.close()
