"""End to end: HTTPS client -> EdgeServer (TLS listener) -> plain HTTP origin."""

from __future__ import annotations

import asyncio
import dataclasses
import ssl

import pytest
from tests.support.edge import edge_config, read_response, running_edge
from tests.support.origin import Origin, OriginResponse, ReceivedRequest

from shieldwall.config.model import ListenerConfig

from .helpers import IssueCert

pytestmark = pytest.mark.timeout(20)


def echo(req: ReceivedRequest) -> OriginResponse:
    return OriginResponse(body=f"{req.method} {req.target}".encode())


async def test_https_request_is_proxied_with_tls_facts(
    issue: IssueCert, client_ctx: ssl.SSLContext
) -> None:
    async with Origin(echo) as origin:
        config = edge_config(origin.port, certificate=issue("ex", "example.com"))
        config = dataclasses.replace(
            config, listeners=(ListenerConfig(address="127.0.0.1", port=0, tls=True),)
        )
        async with running_edge(config) as edge:
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", edge.port, ssl=client_ctx, server_hostname="example.com"
            )
            try:
                ssl_obj = writer.get_extra_info("ssl_object")
                assert ssl_obj.selected_alpn_protocol() == "http/1.1"
                writer.write(b"GET /secure HTTP/1.1\r\nHost: example.com\r\n\r\n")
                status, _, body = await read_response(reader)
                assert (status, body) == (200, b"GET /secure")
                entry = edge.access_log.entries[0]
                assert entry.conn.scheme == "https"
                assert entry.conn.tls_sni == "example.com"
                assert entry.conn.tls_alpn == "http/1.1"
                assert entry.conn.ja4 is not None and entry.conn.ja4.startswith("t13d")
            finally:
                writer.close()
