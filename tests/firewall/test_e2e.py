"""Firewall rules and the managed WAF end to end: real sockets through ``EdgeServer`` with the
production chain builder (``edge/filters/chain.py``), a real origin, and reloads."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace

import pytest
from tests.support.edge import RecordingLog, edge_config, read_response
from tests.support.origin import Origin

from shieldwall.config.firewall import FirewallConfig, FirewallRuleConfig, WafConfig
from shieldwall.config.load import parse_config
from shieldwall.config.model import Config
from shieldwall.edge.filters.chain import chain_builder
from shieldwall.edge.filters.firewall import FirewallFilter
from shieldwall.edge.runtime import RuntimeHolder, build_runtime
from shieldwall.edge.server import EdgeServer
from shieldwall.edge.services import WorkerServices
from shieldwall.errors import ConfigError, ConfigErrors

RULES = (
    FirewallRuleConfig(
        id="office",
        expression='http.request.headers["x-office"][0] eq "1"',
        action="allow",
        skip=("waf",),
    ),
    FirewallRuleConfig(
        id="teapot",
        expression='http.request.uri.path eq "/brew"',
        action="block",
        status=418,
        body="short and stout\n",
    ),
    FirewallRuleConfig(id="watch", expression='http.request.uri.path eq "/watched"', action="log"),
    FirewallRuleConfig(
        id="admin", expression='starts_with(http.request.uri.path, "/admin")', action="block"
    ),
)


class Edge:
    def __init__(
        self, server: EdgeServer, port: int, log: RecordingLog, services: WorkerServices
    ) -> None:
        self.server, self.port, self.log, self.services = server, port, log, services

    async def get(self, target: str, headers: str = "") -> tuple[int, dict[str, str], bytes]:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            writer.write(
                f"GET {target} HTTP/1.1\r\nHost: example.com\r\nUser-Agent: test/1.0\r\n"
                f"Accept: */*\r\n{headers}Connection: close\r\n\r\n".encode()
            )
            return await asyncio.wait_for(read_response(reader), 10)
        finally:
            writer.close()

    def reload(self, config: Config, version: int) -> None:
        self.server.reload(build_runtime(config, version, chain_builder(self.services)))

    def firewall(self) -> FirewallFilter:
        zone = self.server.holder.current.zones[0]
        filters = []
        for f in zone.chain.request_headers:  # the shield wraps the chain in one ShieldChain
            filters.extend(getattr(f, "filters", (f,)))
        return next(f for f in filters if isinstance(f, FirewallFilter))


@asynccontextmanager
async def running(config: Config) -> AsyncIterator[Edge]:
    services = WorkerServices()
    holder = RuntimeHolder(build_runtime(config, 1, chain_builder(services)))
    log = RecordingLog()
    server = EdgeServer(holder, access_log=log)
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    sock.setblocking(False)
    await server.start([(replace(config.listeners[0], port=sock.getsockname()[1]), sock)])
    try:
        yield Edge(server, sock.getsockname()[1], log, services)
    finally:
        await server.drain(0.0)
        sock.close()


def zone_config(port: int, *, log_only: bool = False, waf: bool = True) -> Config:
    return edge_config(
        port,
        firewall=FirewallConfig(rules=RULES, log_only=log_only),
        waf=WafConfig(enabled=waf),
    )


@pytest.fixture
async def origin() -> AsyncIterator[Origin]:
    async with Origin() as o:
        yield o


async def test_block_with_custom_status_and_body(origin: Origin) -> None:
    async with running(zone_config(origin.port)) as edge:
        status, headers, body = await edge.get("/brew")
        assert (status, body) == (418, b"short and stout\n")
        assert headers["content-type"].startswith("text/plain")
        status, _, body = await edge.get("/admin/users")
        assert status == 403 and b"shieldwall" in body.lower()  # branded page
        status, _, _ = await edge.get("/")
        assert status == 200
        assert edge.firewall().hits["teapot"] == 1 and edge.firewall().hits["admin"] == 1
        blocked = [c for c in edge.log.entries if c.status == 418]
        assert blocked and blocked[0].security_rule == "teapot"
    assert len(origin.requests) == 1  # only "/" reached the origin


async def test_waf_blocks_sqli_and_passes_a_select_search(origin: Origin) -> None:
    async with running(zone_config(origin.port)) as edge:
        status, _, _ = await edge.get("/search?q=select+a+union+rep+near+me")
        assert status == 200
        status, _, _ = await edge.get("/item?id=1%27%20OR%20%271%27%3D%271")
        assert status == 403
        entry = edge.log.entries[-1]
        assert entry.security_action == "block" and entry.security_rule == "waf:1602"
        assert "sqli" in entry.security_reason
    assert [r.target for r in origin.requests] == ["/search?q=select+a+union+rep+near+me"]


async def test_allow_skips_the_waf(origin: Origin) -> None:
    async with running(zone_config(origin.port)) as edge:
        attack = "/item?id=1%27%20OR%20%271%27%3D%271"
        assert (await edge.get(attack, "X-Office: 1\r\n"))[0] == 200
        assert (await edge.get(attack))[0] == 403
        assert edge.firewall().hits["office"] == 1


async def test_log_only_passes_traffic_and_counts(origin: Origin) -> None:
    async with running(zone_config(origin.port, log_only=True, waf=False)) as edge:
        for target in ("/brew", "/admin", "/watched", "/"):
            assert (await edge.get(target))[0] == 200
        hits = edge.firewall().hits
        assert (hits["teapot"], hits["admin"], hits["watch"], hits["office"]) == (1, 1, 1, 0)
        logged = {c.path: (c.security_action, c.security_rule) for c in edge.log.entries}
        assert logged[b"/brew"] == ("log", "teapot")
        assert logged[b"/"] == ("", "")
    assert len(origin.requests) == 4


async def test_reload_with_a_bad_rule_keeps_the_running_config(origin: Origin) -> None:
    good = zone_config(origin.port)
    async with running(good) as edge:
        bad_rule = FirewallRuleConfig(id="bad", expression='http.host eq "a" and', action="block")
        bad = replace(
            good, zones=(replace(good.zones[0], firewall=FirewallConfig(rules=(*RULES, bad_rule))),)
        )
        with pytest.raises(ConfigError) as exc:
            edge.reload(bad, 2)
        assert exc.value.path == "firewall.rules[4].expression"
        assert "expected" in exc.value.reason and "^" in exc.value.reason
        assert edge.server.holder.current.version == 1
        assert (await edge.get("/brew"))[0] == 418
        # the same rule in a TOML file is refused by validation, before any runtime is built
        text = f"""
[[listeners]]
address = "127.0.0.1"
port = 8080
[[zones]]
name = "z"
hosts = ["example.com"]
origins = [{{host = "127.0.0.1", port = {origin.port}}}]
[[zones.firewall.rules]]
id = "bad"
expression = 'http.host eq "a" and'
action = "block"
"""
        with pytest.raises(ConfigErrors) as errs:
            parse_config(text)
        assert "zones[0].firewall.rules[0].expression: error: expected" in str(errs.value)
        # a good reload takes effect
        edge.reload(zone_config(origin.port, waf=False), 3)
        assert (await edge.get("/item?id=1%27%20OR%20%271%27%3D%271"))[0] == 200
