"""CertStore lookup rules, its sni_callback under plain create_server, self-signed certs."""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
from pathlib import Path

import pytest
from cryptography import x509

from shieldwall.config.model import CertificateConfig, Config, OriginConfig, ZoneConfig
from shieldwall.edge.certs import CertStore, generate_self_signed

from .helpers import IssueCert, pump_handshake, raw_conn, tls_harness

ORIGIN = (OriginConfig(host="127.0.0.1"),)


def store_config(issue: IssueCert, default: bool = True) -> Config:
    a = issue("a", "a.test")
    return Config(
        zones=(
            ZoneConfig("a", ("a.test", "*.a.test"), ORIGIN, certificate=a),
            ZoneConfig("deep", ("*.x.a.test",), ORIGIN, certificate=issue("d", "*.x.a.test")),
            ZoneConfig("same", ("same.test",), ORIGIN, certificate=a),  # shared file pair
        ),
        default_certificate=issue("dflt", "default.test") if default else None,
    )


def test_lookup_rules(issue: IssueCert) -> None:
    store = CertStore.from_config(store_config(issue))
    a = store.context_for("a.test")
    deep = store.context_for("y.x.a.test")
    assert a is not None and deep is not None and a is not deep
    assert store.context_for("b.a.test") is a
    assert store.context_for("q.b.a.test") is a  # wildcard covers deeper names
    assert store.context_for("z.y.x.a.test") is deep  # longest suffix wins
    assert store.context_for("x.a.test") is a  # "*.x.a.test" does not cover "x.a.test"
    assert store.context_for("same.test") is a
    assert len(store.contexts) == 3  # a (shared), deep, default
    assert store.context_for("nope.test") is store.default
    assert store.context_for(None) is store.default


def test_lookup_without_default(issue: IssueCert) -> None:
    store = CertStore.from_config(store_config(issue, default=False))
    assert store.context_for("nope.test") is None
    assert store.context_for(None) is None
    assert store.context_for("a.test") is not None


def test_context_policy(issue: IssueCert) -> None:
    ctx = CertStore.from_config(store_config(issue)).context_for("a.test")
    assert ctx is not None
    assert ctx.minimum_version == ssl.TLSVersion.TLSv1_2
    assert ctx.options & ssl.OP_NO_RENEGOTIATION
    assert ctx.options & ssl.OP_NO_COMPRESSION
    tls12 = [c["name"] for c in ctx.get_ciphers() if c["protocol"] == "TLSv1.2"]
    assert tls12 and all(n.startswith("ECDHE-") for n in tls12)
    assert not any("CBC" in n or "SHA1" in n or n.endswith("-SHA") for n in tls12)


async def test_sni_callback_serves_every_zone_under_create_server(
    issue: IssueCert, client_ctx: ssl.SSLContext
) -> None:
    """The same store works without the peek path: the callback switches contexts."""
    store = CertStore.from_config(store_config(issue, default=False))
    loop = asyncio.get_running_loop()
    server = await loop.create_server(asyncio.Protocol, "127.0.0.1", 0, ssl=store.server_context)
    port = server.sockets[0].getsockname()[1]
    try:
        for sni, expected in (("a.test", "a.test"), ("k.x.a.test", "*.x.a.test")):
            async with raw_conn(port) as sock:
                obj = await pump_handshake(sock, client_ctx, sni)
                der = obj.getpeercert(binary_form=True)
                assert der is not None
                cert = x509.load_der_x509_certificate(der)
                san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
                assert san.value.get_values_for_type(x509.DNSName)[0] == expected
        client_ctx.check_hostname = False
        async with raw_conn(port) as sock:
            # uvloop's SSL transport may close before flushing the alert: either way it fails
            with pytest.raises(ssl.SSLError, match=r"UNRECOGNIZED_NAME|closed"):
                await pump_handshake(sock, client_ctx, "unknown.test")
    finally:
        server.close()
        await server.wait_closed()


async def test_generate_self_signed(tmp_path: Path) -> None:
    cert, key = tmp_path / "demo.crt", tmp_path / "demo.key"
    generate_self_signed(["demo.test", "127.0.0.1"], cert, key, days=2)
    assert os.stat(key).st_mode & 0o777 == 0o600
    parsed = x509.load_pem_x509_certificate(cert.read_bytes())
    san = parsed.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["demo.test"]
    assert [str(i) for i in san.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    config = Config(
        zones=(
            ZoneConfig(
                "d", ("demo.test",), ORIGIN, certificate=CertificateConfig(str(cert), str(key))
            ),
        )
    )
    client = ssl.create_default_context(cafile=str(cert))  # trust the self-signed leaf itself
    async with tls_harness(config) as h, raw_conn(h.port) as sock:
        obj = await pump_handshake(sock, client, "demo.test")
        assert obj.version() == "TLSv1.3"


async def test_accept_filter_refuses_before_any_tls_work(
    issue: IssueCert, client_ctx: ssl.SSLContext
) -> None:
    seen: list[str] = []

    def banned(ip: str) -> bool:
        seen.append(ip)
        return ip != "127.0.0.66"

    loop = asyncio.get_running_loop()
    async with tls_harness(store_config(issue), accept_filter=banned) as h:
        sock = socket.socket()
        sock.setblocking(False)
        sock.bind(("127.0.0.66", 0))
        try:
            await loop.sock_connect(sock, ("127.0.0.1", h.port))
            with pytest.raises((ssl.SSLError, ConnectionError)):
                await pump_handshake(sock, client_ctx, "a.test")
        finally:
            sock.close()
        async with raw_conn(h.port) as ok:
            await pump_handshake(ok, client_ctx, "a.test")
        assert seen == ["127.0.0.66", "127.0.0.1"]
        assert h.server.stats.refused == 1
