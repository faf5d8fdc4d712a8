"""Phase ``log``: the zone's log filters run once at the end of every request, after the
access-log sink, whatever way the request ended (the shield counts after the response)."""

from __future__ import annotations

import asyncio
import socket
import struct

from tests.support.edge import edge_config, read_response, running_edge
from tests.support.origin import Origin, OriginResponse, ReceivedRequest

from shieldwall.config.model import Config, ZoneConfig
from shieldwall.edge.context import RequestContext
from shieldwall.edge.decision import CONTINUE, Block, Decision
from shieldwall.edge.pipeline import PhaseChain


async def until(cond: object, what: str, tries: int = 500) -> None:
    for _ in range(tries):
        if cond():  # type: ignore[operator]
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


async def test_log_filters_run_after_the_access_log_for_every_ending() -> None:
    seen: list[tuple[str, int, str, str | None]] = []
    logged_before: list[bool] = []
    gate = asyncio.Event()

    async def handler(req: ReceivedRequest) -> OriginResponse:
        if req.target == "/slow":
            await gate.wait()
        return OriginResponse(body=b"ok")

    def blocker(ctx: RequestContext) -> Decision:
        return Block(status=403) if ctx.path == b"/blocked" else CONTINUE

    def build(zone: ZoneConfig, config: Config) -> PhaseChain:
        def log_filter(ctx: RequestContext) -> Decision:
            logged_before.append(
                bool(edge.access_log.entries) and edge.access_log.entries[-1] is ctx
            )
            ua = ctx.header(b"user-agent")
            seen.append((ctx.target.decode(), ctx.status, ctx.error, ua and ua.decode()))
            return CONTINUE

        return PhaseChain(request_headers=(blocker,), log=(log_filter,))

    async with (
        Origin(handler) as origin,
        running_edge(edge_config(origin.port), chain_builder=build) as edge,
    ):
        r, w = await edge.connect()
        w.write(b"GET /fast HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t/1\r\n\r\n")
        assert (await read_response(r))[0] == 200
        w.write(b"POST /body HTTP/1.1\r\nHost: example.com\r\nContent-Length: 2\r\n\r\nhi")
        assert (await read_response(r))[0] == 200
        w.write(b"GET /blocked HTTP/1.1\r\nHost: example.com\r\n\r\n")
        assert (await read_response(r))[0] == 403
        w.write(b"GET /big HTTP/1.1\r\nHost: example.com\r\nContent-Length: 999999999999\r\n\r\n")
        assert (await read_response(r))[0] == 413
        _, w2 = await edge.connect()
        w2.write(b"GET /slow HTTP/1.1\r\nHost: example.com\r\n\r\n")
        await until(lambda: any(q.target == "/slow" for q in origin.requests), "at origin")
        sock = w2.transport.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        w2.transport.abort()
        await until(lambda: len(seen) == 5, "abort logged")
        gate.set()
        assert seen == [
            ("/fast", 200, "", "t/1"),
            ("/body", 200, "", None),
            ("/blocked", 403, "blocked", None),
            ("/big", 413, "body_too_large", None),
            ("/slow", 499, "client_closed", None),
        ]
        assert logged_before == [True] * 5
        assert len(edge.access_log.entries) == 5


async def test_log_filters_see_headers_when_the_access_log_is_off() -> None:
    """The fast path builds ``ctx.headers`` lazily; a zone with log filters still gets them."""
    got: list[list[tuple[bytes, bytes]]] = []

    def build(zone: ZoneConfig, config: Config) -> PhaseChain:
        def log_filter(ctx: RequestContext) -> Decision:
            got.append(list(ctx.headers))
            return CONTINUE

        return PhaseChain(log=(log_filter,))

    async with (
        Origin() as origin,
        running_edge(edge_config(origin.port), chain_builder=build) as edge,
    ):
        edge.server.worker.access_log = None
        r, w = await edge.connect()
        w.write(b"GET / HTTP/1.1\r\nHost: example.com\r\nX-A:  b \r\n\r\n")
        assert (await read_response(r))[0] == 200
        await until(lambda: len(got) == 1, "logged")
        assert got == [[(b"host", b"example.com"), (b"x-a", b"b")]]


async def test_end_of_request_readers_get_headers_without_the_list_being_built() -> None:
    """No filters: the fast path leaves ``ctx.headers`` unbuilt, ``ctx.header()`` still answers
    (the access log and metrics read the User-Agent that way)."""
    async with Origin() as origin, running_edge(edge_config(origin.port)) as edge:
        r, w = await edge.connect()
        w.write(b"GET / HTTP/1.1\r\nHost: example.com\r\nUSER-Agent:  ua/2 \r\nX-A: 1\r\n\r\n")
        assert (await read_response(r))[0] == 200
        w.write(b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n")
        assert (await read_response(r))[0] == 200
        first, second = edge.access_log.entries
        assert first.headers == [] and first.raw_head is not None  # not built: nobody asked
        assert first.header(b"user-agent") == b"ua/2" and first.header(b"x-a") == b"1"
        assert first.header(b"accept") is None and second.header(b"user-agent") is None
