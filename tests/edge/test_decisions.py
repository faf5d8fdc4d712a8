"""Filter decisions answered by the data path: ``Block`` with its own headers or body, and
``Challenge`` rendered by the shield's hook (``Worker.render_challenge``) whatever the phase."""

from __future__ import annotations

from tests.support.edge import edge_config, read_response, running_edge
from tests.support.origin import Origin, OriginResponse, ReceivedRequest

from shieldwall.config.model import Config, ZoneConfig
from shieldwall.edge.context import RequestContext
from shieldwall.edge.decision import CONTINUE, Block, Challenge, Decision
from shieldwall.edge.pipeline import PhaseChain


def decide(ctx: RequestContext) -> Decision:
    if ctx.path == b"/own-body":
        return Block(status=451, headers=((b"x-why", b"legal"),), body=b"gone for good")
    if ctx.path == b"/branded":
        return Block(status=403, reason="nope", headers=((b"x-why", b"rule"),))
    if ctx.path == b"/challenge":
        return Challenge("js", reason="test", rule_id="r1")
    return CONTINUE


def build(zone: ZoneConfig, config: Config) -> PhaseChain:
    # a bare chain, not wrapped by the shield: the data path must render the challenge itself
    return PhaseChain(request_headers=(decide,))


async def test_block_headers_body_and_rendered_challenge() -> None:
    async def handler(req: ReceivedRequest) -> OriginResponse:
        return OriginResponse(body=b"origin")

    async with (
        Origin(handler) as origin,
        running_edge(edge_config(origin.port), chain_builder=build) as edge,
    ):
        r, w = await edge.connect()
        w.write(b"GET /own-body HTTP/1.1\r\nHost: example.com\r\n\r\n")
        status, headers, body = await read_response(r)
        assert (status, headers["x-why"], body) == (451, "legal", b"gone for good")
        assert headers["sw-request-id"]

        w.write(b"GET /branded HTTP/1.1\r\nHost: example.com\r\n\r\n")
        status, headers, body = await read_response(r)
        assert (status, headers["x-why"]) == (403, "rule")
        assert b"nope" in body and b"<html" in body.lower()

        w.write(b"GET /challenge HTTP/1.1\r\nHost: example.com\r\nAccept: text/html\r\n\r\n")
        status, headers, body = await read_response(r)
        assert status == 403
        assert b"<script" in body.lower()  # the challenge page, not the plain 403
        assert headers["content-type"].startswith("text/html")

        w.write(b"GET /fine HTTP/1.1\r\nHost: example.com\r\n\r\n")
        status, _, body = await read_response(r)
        assert (status, body) == (200, b"origin")
        actions = [(e.status, e.security_action) for e in edge.access_log.entries]
        assert actions[:3] == [(451, "block"), (403, "block"), (403, "challenge")]
        assert [q.target for q in origin.requests] == ["/fine"]


def add_line(ctx: RequestContext) -> Decision:
    ctx.response_headers_extra = [(b"x-added", b"1"), (b"set-cookie", b"a=b; Path=/")]
    return Block(status=403, reason="no") if ctx.path == b"/refused" else CONTINUE


async def test_response_headers_extra_on_relayed_and_edge_answers() -> None:
    async def handler(req: ReceivedRequest) -> OriginResponse:
        return OriginResponse(body=b"origin")

    def chain(zone: ZoneConfig, config: Config) -> PhaseChain:
        return PhaseChain(request_headers=(add_line,))

    async with (
        Origin(handler) as origin,
        running_edge(edge_config(origin.port), chain_builder=chain) as edge,
    ):
        r, w = await edge.connect()
        for path, want in ((b"/ok", 200), (b"/refused", 403), (b"/ok", 200)):
            w.write(b"GET " + path + b" HTTP/1.1\r\nHost: example.com\r\n\r\n")
            status, headers, body = await read_response(r)
            assert status == want
            assert (headers["x-added"], headers["set-cookie"]) == ("1", "a=b; Path=/")
        assert body == b"origin"
