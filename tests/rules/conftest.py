"""Fixtures for the rules tests: real ``RequestContext`` objects built from a few facts."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from shieldwall.config.model import Config
from shieldwall.edge.context import ConnectionInfo, RequestContext
from shieldwall.edge.runtime import build_runtime
from shieldwall.rules import NamedList

RUNTIME = build_runtime(Config(), 1)

LISTS = {
    "office": NamedList("ip", ["192.0.2.0/24", "2001:db8::/32", "198.51.100.7"]),
    "bad_asns": NamedList("asn", [64496, "AS64511"]),
    "hosts": NamedList("hostname", ["example.com", "*.example.org"]),
    "words": NamedList("string", ["alpha", "beta"]),
}


def make_ctx(
    method: bytes = b"GET",
    target: bytes = b"/",
    headers: list[tuple[bytes, bytes]] | None = None,
    *,
    host: str = "",
    ip: str = "203.0.113.9",
    scheme: str = "http",
    ja4: str | None = None,
    version: bytes = b"1.1",
    content_length: int | None = None,
    threat_score: int = 0,
) -> RequestContext:
    path, _, query = target.partition(b"?")
    headers = list(headers or [])
    if not host:
        for k, v in headers:
            if k == b"host":
                host = v.decode().lower().split(":")[0]
    conn = ConnectionInfo(
        peer_ip=ip,
        peer_port=40000,
        client_ip=ip,
        client_port=40000,
        local_port=8080,
        scheme=scheme,
        ja4=ja4,
    )
    return RequestContext(
        conn=conn,
        runtime=RUNTIME,
        request_id="t",
        started=0.0,
        method=method,
        target=target,
        path=path,
        query=query,
        version=version,
        headers=headers,
        host=host,
        client_ip=ip,
        content_length=content_length,
        threat_score=threat_score,
    )


@pytest.fixture
def ctx_factory() -> Callable[..., RequestContext]:
    return make_ctx
