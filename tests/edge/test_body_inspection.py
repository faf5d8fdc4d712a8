"""Phase ``request_body``: small bodies are held back and judged by the zone's body filters
(here the managed WAF) before forwarding; larger ones stream through uninspected."""

from __future__ import annotations

import json

from tests.support.edge import edge_config, read_response, running_edge
from tests.support.origin import Origin, OriginResponse, ReceivedRequest

from shieldwall.config.firewall import WafConfig
from shieldwall.config.model import ZoneLimits
from shieldwall.edge.filters.chain import chain_builder
from shieldwall.edge.services import WorkerServices

SQLI = json.dumps({"name": "x' UNION SELECT password FROM users --", "n": 1}).encode()
BENIGN = json.dumps({"name": "Ada Lovelace", "note": "select a seat, any seat"}).encode()


def post(path: bytes, body: bytes, *, chunked: bool = False) -> bytes:
    head = b"POST " + path + b" HTTP/1.1\r\nHost: example.com\r\nContent-Type: application/json\r\n"
    if chunked:
        half = len(body) // 2
        parts = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in (body[:half], body[half:]) if p)
        return head + b"Transfer-Encoding: chunked\r\n\r\n" + parts + b"0\r\n\r\n"
    return head + b"Content-Length: %d\r\n\r\n" % len(body) + body


async def test_waf_judges_json_bodies_and_big_uploads_stream() -> None:
    async def handler(req: ReceivedRequest) -> OriginResponse:
        return OriginResponse(body=b"got %d" % len(req.body))

    async with Origin(handler) as origin:
        config = edge_config(
            origin.port,
            waf=WafConfig(enabled=True),
            zone_limits=ZoneLimits(inspect_body_bytes=64 * 1024),
        )
        async with running_edge(config, chain_builder=chain_builder(WorkerServices())) as edge:
            r, w = await edge.connect()
            w.write(post(b"/api/users", SQLI))
            status, _, _ = await read_response(r)
            assert status == 403
            entry = edge.access_log.entries[-1]
            assert entry.security_action == "block" and entry.body_sample == SQLI
            assert entry.security_rule.startswith("waf:")

            w.write(post(b"/api/users", SQLI, chunked=True))
            assert (await read_response(r))[0] == 403

            w.write(post(b"/api/users", BENIGN))
            status, _, body = await read_response(r)
            assert (status, body) == (200, b"got %d" % len(BENIGN))

            w.write(post(b"/api/users", BENIGN, chunked=True))
            status, _, body = await read_response(r)
            assert (status, body) == (200, b"got %d" % len(BENIGN))

            big = b'{"blob":"' + b"a" * (1024 * 1024) + b'"}'
            w.write(post(b"/upload", big))
            status, _, body = await read_response(r)
            assert (status, body) == (200, b"got %d" % len(big))
            assert edge.access_log.entries[-1].body_sample is None  # streamed, not held

            # a chunked body past the cap streams on (what was held goes first)
            w.write(post(b"/upload", big, chunked=True))
            status, _, body = await read_response(r)
            assert (status, body) == (200, b"got %d" % len(big))

        got = [(q.target, q.body) for q in origin.requests]
        assert got[:2] == [("/api/users", BENIGN)] * 2
        assert got[2:] == [("/upload", big)] * 2


async def test_expect_continue_is_answered_while_the_body_is_held() -> None:
    async def handler(req: ReceivedRequest) -> OriginResponse:
        return OriginResponse(body=req.body)

    async with Origin(handler) as origin:
        config = edge_config(origin.port, waf=WafConfig(enabled=True))
        async with running_edge(config, chain_builder=chain_builder(WorkerServices())) as edge:
            r, w = await edge.connect()
            w.write(
                b"POST /api HTTP/1.1\r\nHost: example.com\r\nContent-Type: application/json\r\n"
                b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(BENIGN)
            )
            assert await r.readuntil(b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
            w.write(BENIGN)
            status, _, body = await read_response(r)
            assert (status, body) == (200, BENIGN)
