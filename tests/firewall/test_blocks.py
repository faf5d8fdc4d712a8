"""Firewall rules over a keep-alive connection that repeats its field lines with new request
lines (``HeaderBlock``): the rule index keeps its header part on the block, so these check
that header rules still match every request, request-line rules still match with the kept
part, a reload recomputes it, and address rules stay the request's own. Real sockets through
``EdgeServer`` with the production chain builder and a real origin."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from tests.support.edge import RunningEdge, edge_config, read_response, running_edge
from tests.support.origin import Origin

from shieldwall.config.firewall import FirewallConfig, FirewallRuleConfig
from shieldwall.config.model import Config
from shieldwall.edge.filters.chain import chain_builder
from shieldwall.edge.filters.firewall import FirewallFilter
from shieldwall.edge.runtime import build_runtime
from shieldwall.edge.services import WorkerServices


def _rule(id: str, expression: str, status: int = 403) -> FirewallRuleConfig:
    return FirewallRuleConfig(
        id=id, expression=expression, action="block", status=status, body=f"{id}\n"
    )


HEADER_RULES = (
    _rule("bot", 'http.user_agent contains "badbot"'),
    _rule("attack", 'http.request.headers["x-attack"][0] ne ""'),
    _rule("banned", 'http.request.cookies["banned"][0] eq "1"'),
)
OTHER_RULES = (
    _rule("teapot", 'http.request.uri.path eq "/brew"', 418),
    _rule("office", "ip.src in {127.0.0.2}"),
)
FIELD_LINES = "User-Agent: Mozilla/5.0 Chrome/124.0\r\nAccept: */*\r\nCookie: session=1\r\n"


def _config(port: int, rules: tuple[FirewallRuleConfig, ...]) -> Config:
    return edge_config(port, firewall=FirewallConfig(rules=rules))


@pytest.fixture
async def origin() -> AsyncIterator[Origin]:
    async with Origin() as o:
        yield o


class Client:
    """One keep-alive connection sending the same field lines with each new request line."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, edge: RunningEdge, source: str = "127.0.0.1") -> Client:
        return cls(*await edge.connect(source))

    async def get(self, target: str, lines: str = FIELD_LINES) -> tuple[int, bytes]:
        self.writer.write(f"GET {target} HTTP/1.1\r\nHost: example.com\r\n{lines}\r\n".encode())
        status, _, body = await asyncio.wait_for(read_response(self.reader), 10)
        return status, body


def _firewall(edge: RunningEdge) -> FirewallFilter:
    filters = []
    for f in edge.server.holder.current.zones[0].chain.request_headers:
        filters.extend(getattr(f, "filters", (f,)))  # the shield wraps the chain
    return next(f for f in filters if isinstance(f, FirewallFilter))


def _one_block(edge: RunningEdge) -> None:
    """Every logged request shared the first one's field lines (the data path's block)."""
    entries = edge.access_log.entries
    assert entries and all(c.block is entries[0].block for c in entries)


@pytest.mark.parametrize(
    ("line", "rule"),
    [
        ("User-Agent: curl badbot/2\r\n", "bot"),
        ("X-Attack: 1\r\nUser-Agent: Mozilla/5.0\r\n", "attack"),
        ("Cookie: theme=dark; banned=1\r\nUser-Agent: Mozilla/5.0\r\n", "banned"),
    ],
)
async def test_header_rules_match_every_request_of_a_block(
    origin: Origin, line: str, rule: str
) -> None:
    config = _config(origin.port, (*OTHER_RULES, *HEADER_RULES))
    async with running_edge(config, chain_builder=chain_builder(WorkerServices())) as edge:
        client = await Client.open(edge)
        answers = [await client.get(t, line) for t in ("/a?n=1", "/a?n=2", "/b", "/brew?n=3")]
        assert answers[:3] == [(403, f"{rule}\n".encode())] * 3
        assert answers[3] == (418, b"teapot\n")  # an earlier rule, from the request line
        assert _firewall(edge).hits[rule] == 3
        _one_block(edge)
    assert origin.requests == []


async def test_request_line_rules_match_with_the_kept_header_part(origin: Origin) -> None:
    config = _config(origin.port, (*HEADER_RULES, *OTHER_RULES))
    async with running_edge(config, chain_builder=chain_builder(WorkerServices())) as edge:
        client = await Client.open(edge)
        seen = [(await client.get(t))[0] for t in ("/ok?n=1", "/brew?n=2", "/ok?n=3", "/brew")]
        assert seen == [200, 418, 200, 418]
        assert _firewall(edge).hits["teapot"] == 2
        _one_block(edge)
    assert [r.target for r in origin.requests] == ["/ok?n=1", "/ok?n=3"]


async def test_a_reload_recomputes_the_header_part(origin: Origin) -> None:
    services = WorkerServices()
    without = _config(origin.port, (*OTHER_RULES, HEADER_RULES[1]))  # a header part too
    with_bot = _config(origin.port, (*OTHER_RULES, *HEADER_RULES))
    async with running_edge(without, chain_builder=chain_builder(services)) as edge:
        client = await Client.open(edge)
        bot = "User-Agent: badbot/1\r\n"
        assert (await client.get("/a?n=1", bot))[0] == 200
        for version, config, status in ((2, with_bot, 403), (3, without, 200)):
            edge.server.reload(build_runtime(config, version, chain_builder(services)))
            assert (await client.get(f"/a?v={version}", bot))[0] == status
            assert (await client.get(f"/b?v={version}", bot))[0] == status
        _one_block(edge)


async def test_address_rules_stay_each_requests_own(origin: Origin) -> None:
    config = _config(origin.port, (*HEADER_RULES, *OTHER_RULES))
    async with running_edge(config, chain_builder=chain_builder(WorkerServices())) as edge:
        near = await Client.open(edge, "127.0.0.1")
        office = await Client.open(edge, "127.0.0.2")
        for n in range(3):  # the same field lines from two addresses, in turn
            assert (await office.get(f"/a?n={n}"))[0] == 403
            assert (await near.get(f"/a?n={n}"))[0] == 200
        assert _firewall(edge).hits["office"] == 3
    assert len(origin.requests) == 3
