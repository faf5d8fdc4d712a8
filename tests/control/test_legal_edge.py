"""The legal filter on a real EdgeServer (sockets on 127.0.0.1): 451 with RFC 7725's Link
header and a page naming the authority, scopes (zone, exact URL, prefix), percent-encoding and
dot-segment tricks, countries, other zones untouched."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from tests.support.edge import read_response
from tests.support.origin import Origin

from shieldwall.config.load import parse_config
from shieldwall.edge.filters.chain import chain_builder
from shieldwall.edge.runtime import RuntimeHolder, build_runtime
from shieldwall.edge.server import EdgeServer
from shieldwall.edge.services import WorkerServices

CONFIG = """
data_dir = "data"
[access_log]
path = ""
[[listeners]]
address = "127.0.0.1"
port = 18080
[[zones]]
name = "alpha"
hosts = ["alpha.test"]
[[zones.origins]]
host = "127.0.0.1"
port = {origin}
[[zones]]
name = "beta"
hosts = ["beta.test"]
[[zones.origins]]
host = "127.0.0.1"
port = {origin}
[control]
legal_url = "https://operator.example/legal"
[[control.legal_blocks]]
id = "court-1"
zone = "alpha"
authority = "District Court <Example>"
reference = "AZ 1/23"
scope = "prefix"
path = "/banned/"
[[control.legal_blocks]]
id = "exact-1"
zone = "alpha"
authority = "Agency"
scope = "url"
path = "/one thing"
blocked_by = "https://isp.example/blocks/exact-1"
[[control.legal_blocks]]
id = "geo-1"
zone = "alpha"
authority = "Regulator"
scope = "prefix"
path = "/geo"
countries = ["DE"]
[[control.legal_blocks]]
id = "whole-beta"
zone = "beta"
authority = "Court B"
"""


@asynccontextmanager
async def edge(tmp_path: Path, origin_port: int) -> AsyncIterator[int]:
    config = parse_config(CONFIG.format(origin=origin_port), base_dir=str(tmp_path))
    services = WorkerServices()
    server = EdgeServer(RuntimeHolder(build_runtime(config, 1, chain_builder(services))))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.setblocking(False)
    await server.start([(config.listeners[0], sock)])
    try:
        yield sock.getsockname()[1]
    finally:
        await server.drain(0.0)
        sock.close()


async def get(
    port: int, host: str, path: str, accept: str = "text/html"
) -> tuple[int, dict[str, str], bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: {accept}\r\nConnection: close\r\n"
    writer.write(head.encode() + b"\r\n")
    try:
        return await read_response(reader)
    finally:
        writer.close()


async def test_legal_orders_answer_451(tmp_path: Path) -> None:
    async with Origin() as origin, edge(tmp_path, origin.port) as port:
        status, headers, body = await get(port, "alpha.test", "/banned/page?x=1")
        assert status == 451
        assert headers["link"] == '<https://operator.example/legal>; rel="blocked-by"'
        assert headers["cache-control"] == "no-store"
        assert b"District Court &lt;Example&gt;" in body and b"AZ 1/23" in body
        for trick in ("/banned/%2e%2e/banned/x", "/ban%6eed/x", "/x/../banned/y", "/./banned/"):
            assert (await get(port, "alpha.test", trick))[0] == 451, trick
        status, headers, _ = await get(port, "alpha.test", "/one%20thing")
        assert status == 451 and "isp.example/blocks/exact-1" in headers["link"]
        status, headers, body = await get(port, "alpha.test", "/banned/", accept="application/json")
        assert status == 451 and b'"order": "court-1"' in body
        # not covered: other paths, the exact URL's children, a country-scoped order for an
        # address without a country (loopback), and untouched zones' neighbours
        for path in ("/", "/banned", "/one%20thing/more", "/geo/x"):
            assert (await get(port, "alpha.test", path))[0] == 200, path
        assert (await get(port, "beta.test", "/anything"))[0] == 451
        assert all(not r.target.startswith("/banned/") for r in origin.requests)
