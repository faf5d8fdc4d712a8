"""serve_tls on real loopback sockets: SNI -> certificate, ALPN, JA4, bounds, PROXY, reload."""

from __future__ import annotations

import asyncio
import dataclasses
import ssl
import warnings

import pytest
from cryptography import x509

from shieldwall.config.model import (
    CertificateConfig,
    Config,
    ListenerConfig,
    OriginConfig,
    ServerLimits,
    TrustedProxiesConfig,
    ZoneConfig,
)
from shieldwall.edge.runtime import build_runtime
from shieldwall.errors import ConfigError
from shieldwall.protocol.clienthello import parse_client_hello

from .helpers import BioClient, IssueCert, pump_handshake, raw_conn, read_until_eof, tls_harness

ORIGIN = (OriginConfig(host="127.0.0.1", port=9),)


def zone(name: str, hosts: tuple[str, ...], cert: CertificateConfig | None) -> ZoneConfig:
    return ZoneConfig(name=name, hosts=hosts, origins=ORIGIN, certificate=cert)


def make_config(issue: IssueCert, *, default: bool = True, **kw: object) -> Config:
    zones = (
        zone("a", ("a.test",), issue("a", "a.test")),
        zone("b", ("b.test", "www.b.test"), issue("b", "b.test", "www.b.test")),
        zone("w", ("*.wild.test",), issue("w", "*.wild.test")),
        zone("nocert", ("plain.test",), None),
    )
    dflt = issue("default", "default.test") if default else None
    return Config(zones=zones, default_certificate=dflt, **kw)  # type: ignore[arg-type]


def cert_names(obj: ssl.SSLObject) -> list[str]:
    der = obj.getpeercert(binary_form=True)
    assert der is not None
    cert = x509.load_der_x509_certificate(der)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    return san.value.get_values_for_type(x509.DNSName)


async def handshake(port: int, ctx: ssl.SSLContext, sni: str | None, **kw: object) -> list[str]:
    async with raw_conn(port) as sock:
        obj = await pump_handshake(sock, ctx, sni, **kw)  # type: ignore[arg-type]
        return cert_names(obj)


@pytest.mark.parametrize(
    ("sni", "expected"),
    [
        ("a.test", ["a.test"]),
        ("b.test", ["b.test", "www.b.test"]),
        ("WWW.B.test", ["b.test", "www.b.test"]),
        ("x.wild.test", ["*.wild.test"]),
    ],
)
async def test_sni_picks_zone_certificate(
    issue: IssueCert, client_ctx: ssl.SSLContext, sni: str, expected: list[str]
) -> None:
    async with tls_harness(make_config(issue)) as h:
        assert await handshake(h.port, client_ctx, sni) == expected
        proto = await h.next_protocol()
        assert proto.hello is not None and proto.hello.sni == sni.lower()
        await h.server.wait_closed()  # the accept task ends once the handshake is done
        assert h.server.stats.handshakes == 1


async def test_unknown_sni_and_no_sni_get_default(
    issue: IssueCert, client_ctx: ssl.SSLContext
) -> None:
    client_ctx.check_hostname = False
    async with tls_harness(make_config(issue)) as h:
        for sni in ("unknown.test", "plain.test", "deep.x.wild.test.evil", None):
            assert await handshake(h.port, client_ctx, sni) == ["default.test"]


async def test_without_default_unknown_names_fail(
    issue: IssueCert, client_ctx: ssl.SSLContext
) -> None:
    client_ctx.check_hostname = False
    async with tls_harness(make_config(issue, default=False)) as h:
        with pytest.raises(ssl.SSLError, match="UNRECOGNIZED_NAME"):
            await handshake(h.port, client_ctx, "unknown.test")
        with pytest.raises(ssl.SSLError, match="UNRECOGNIZED_NAME"):
            await handshake(h.port, client_ctx, None)
        assert await handshake(h.port, client_ctx, "a.test") == ["a.test"]
        assert h.server.stats.unknown_sni == 2


async def test_alpn_http11_and_ja4_reach_the_protocol(
    issue: IssueCert, client_ctx: ssl.SSLContext
) -> None:
    # The same client context produces the same JA4 on every hello (randoms are not in it).
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    probe = client_ctx.wrap_bio(incoming, outgoing, server_hostname="a.test")
    with pytest.raises(ssl.SSLWantReadError):
        probe.do_handshake()
    expected = parse_client_hello(outgoing.read())
    assert expected is not None
    async with tls_harness(make_config(issue)) as h, raw_conn(h.port) as sock:
        obj = await pump_handshake(sock, client_ctx, "a.test")
        assert obj.selected_alpn_protocol() == "http/1.1"
        assert obj.version() == "TLSv1.3"
        proto = await h.next_protocol()
        assert proto.hello is not None
        assert proto.hello.ja4 == expected.ja4
        assert proto.hello.alpn == ("h2", "http/1.1")
        assert proto.transport is not None
        assert proto.transport.get_extra_info("ssl_object").selected_alpn_protocol() == ("http/1.1")


async def test_h2_only_client_gets_no_alpn_and_tls12_works(
    issue: IssueCert, client_ctx: ssl.SSLContext
) -> None:
    client_ctx.set_alpn_protocols(["h2"])
    client_ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    async with tls_harness(make_config(issue)) as h, raw_conn(h.port) as sock:
        obj = await pump_handshake(sock, client_ctx, "a.test")
        assert obj.selected_alpn_protocol() is None
        assert obj.version() == "TLSv1.2"
        proto = await h.next_protocol()
        assert proto.hello is not None and proto.hello.ja4.startswith("t12d")


async def test_tls11_is_refused(issue: IssueCert, client_ctx: ssl.SSLContext) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.1 is deprecated: the point
        client_ctx.minimum_version = ssl.TLSVersion.TLSv1
        client_ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    client_ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    async with tls_harness(make_config(issue)) as h:
        with pytest.raises(ssl.SSLError):
            await handshake(h.port, client_ctx, "a.test")


async def test_client_hello_split_across_writes(
    issue: IssueCert, client_ctx: ssl.SSLContext
) -> None:
    async with tls_harness(make_config(issue)) as h, raw_conn(h.port) as sock:
        client = BioClient(sock, client_ctx, "b.test")
        await client.handshake(first_flight_chunks=4)
        assert cert_names(client.obj) == ["b.test", "www.b.test"]
        proto = await h.next_protocol()
        assert proto.hello is not None and proto.hello.sni == "b.test"
        assert h.server.stats.partial_reads >= 1
        # One small record must be read by the server: SO_RCVLOWAT was reset to 1.
        await client.send(b"z")
        async with asyncio.timeout(5):
            assert await client.recv(1) == b"z"


async def test_asyncio_client_echo(issue: IssueCert, client_ctx: ssl.SSLContext) -> None:
    async with tls_harness(make_config(issue)) as h:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", h.port, ssl=client_ctx, server_hostname="a.test"
        )
        writer.write(b"x")
        assert await reader.readexactly(1) == b"x"
        writer.close()
        await writer.wait_closed()


async def test_garbage_and_plain_http_are_closed(
    issue: IssueCert, client_ctx: ssl.SSLContext
) -> None:
    async with tls_harness(make_config(issue)) as h:
        async with raw_conn(h.port) as sock:
            await asyncio.get_running_loop().sock_sendall(sock, b"GET / HTTP/1.1\r\n\r\n")
            answer = await read_until_eof(sock)
            assert answer.startswith(b"HTTP/1.1 400 ")
        async with raw_conn(h.port) as sock:
            await asyncio.get_running_loop().sock_sendall(sock, b"\x00\x01garbage")
            assert await read_until_eof(sock) == b""
        assert h.server.stats.bad_hello == 2
        assert h.protocols == []


async def test_silent_client_times_out(issue: IssueCert) -> None:
    config = make_config(issue, limits=ServerLimits(header_timeout=0.2))
    async with tls_harness(config) as h, raw_conn(h.port) as sock:
        await asyncio.get_running_loop().sock_sendall(sock, b"\x16\x03\x01\x02\x00\x01")
        assert await read_until_eof(sock, timeout=5) == b""
        assert h.server.stats.timeouts == 1


async def test_eof_mid_hello_is_not_a_busy_loop(issue: IssueCert) -> None:
    async with tls_harness(make_config(issue)) as h:
        async with raw_conn(h.port) as sock:
            await asyncio.get_running_loop().sock_sendall(sock, b"\x16\x03\x01\x02\x00\x01")
        async with asyncio.timeout(5):
            while h.server.stats.closed_early == 0:
                await asyncio.sleep(0.01)
        assert h.server.stats.timeouts == 0


PROXY_V1 = b"PROXY TCP4 192.0.2.7 198.51.100.1 40001 443\r\n"


@pytest.mark.parametrize("trusted", [True, False])
async def test_proxy_header_before_client_hello(
    issue: IssueCert, client_ctx: ssl.SSLContext, trusted: bool
) -> None:
    cidrs = ("127.0.0.0/8",) if trusted else ()
    config = make_config(issue, trusted_proxies=TrustedProxiesConfig(cidrs=cidrs))
    async with tls_harness(config, proxy_protocol=True) as h:
        names = await handshake(h.port, client_ctx, "a.test", prefix=PROXY_V1)
        assert names == ["a.test"]
        proto = await h.next_protocol()
        if trusted:
            assert proto.proxy is not None and proto.proxy.src_ip == "192.0.2.7"
            assert proto.proxy.src_port == 40001
        else:
            assert proto.proxy is None
            assert h.server.stats.proxy_untrusted == 1


async def test_proxy_listener_rejects_missing_header(
    issue: IssueCert, client_ctx: ssl.SSLContext
) -> None:
    async with tls_harness(make_config(issue), proxy_protocol=True) as h:
        with pytest.raises((ssl.SSLError, ConnectionError)):
            await handshake(h.port, client_ctx, "a.test")
        assert h.server.stats.bad_hello == 1


async def test_proxy_protocol_flag_from_listener_config(issue: IssueCert) -> None:
    from shieldwall.edge import tls

    config = make_config(issue)
    async with tls_harness(config) as h:
        listener = ListenerConfig(address="127.0.0.1", port=h.port, tls=True, proxy_protocol=True)
        h.holder.swap(build_runtime(dataclasses.replace(config, listeners=(listener,)), 2))
        sock = h.server.sockets[0]
        assert tls._listener_wants_proxy(h.holder, sock)


async def test_reload_swaps_certificates(issue: IssueCert, client_ctx: ssl.SSLContext) -> None:
    config = make_config(issue)
    async with tls_harness(config) as h:
        assert await handshake(h.port, client_ctx, "a.test") == ["a.test"]
        new_a = zone("a", ("a.test",), issue("a2", "a.test", "alt.a.test"))
        h.holder.swap(build_runtime(dataclasses.replace(config, zones=(new_a,)), 2))
        assert await handshake(h.port, client_ctx, "a.test") == ["a.test", "alt.a.test"]
        # a reload whose certificate cannot be loaded keeps the previous store
        broken = zone("a", ("a.test",), CertificateConfig("/nonexistent.crt", "/nonexistent.key"))
        h.holder.swap(build_runtime(dataclasses.replace(config, zones=(broken,)), 3))
        assert await handshake(h.port, client_ctx, "a.test") == ["a.test", "alt.a.test"]


async def test_bad_certificate_fails_at_start(issue: IssueCert) -> None:
    broken = zone("a", ("a.test",), CertificateConfig("/nonexistent.crt", "/nonexistent.key"))
    with pytest.raises(ConfigError, match=r"zones\[0\]\.certificate"):
        async with tls_harness(Config(zones=(broken,))):
            pass


async def test_trickled_hello_wakes_the_server_per_record_not_per_byte(
    issue: IssueCert, client_ctx: ssl.SSLContext
) -> None:
    loop = asyncio.get_running_loop()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = client_ctx.wrap_bio(incoming, outgoing, server_hostname="a.test")
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    hello = outgoing.read()
    async with tls_harness(make_config(issue)) as h, raw_conn(h.port) as sock:
        for i in range(0, 60):  # byte by byte through the record header and beyond
            await loop.sock_sendall(sock, hello[i : i + 1])
            await asyncio.sleep(0.002)
        for i in range(60, len(hello), 40):
            await loop.sock_sendall(sock, hello[i : i + 40])
            await asyncio.sleep(0.002)
        incoming.write(await loop.sock_recv(sock, 65536))  # the server's first flight
        assert h.server.stats.partial_reads <= 3
        assert h.server.stats.bad_hello == 0


async def test_proxy_v2_header_before_client_hello(
    issue: IssueCert, client_ctx: ssl.SSLContext
) -> None:
    import socket
    import struct

    from shieldwall.protocol.proxy import V2_SIGNATURE

    block = socket.inet_pton(socket.AF_INET6, "2001:db8::9") + socket.inet_pton(
        socket.AF_INET6, "2001:db8::1"
    )
    block += struct.pack("!HH", 5555, 443) + b"\x04\x00\x02zz"  # plus a NOOP TLV
    header = V2_SIGNATURE + b"\x21\x21" + struct.pack("!H", len(block)) + block
    config = make_config(issue, trusted_proxies=TrustedProxiesConfig(cidrs=("127.0.0.1/32",)))
    async with tls_harness(config, proxy_protocol=True) as h:
        assert await handshake(h.port, client_ctx, "a.test", prefix=header) == ["a.test"]
        proto = await h.next_protocol()
        assert proto.proxy is not None
        assert (proto.proxy.src_ip, proto.proxy.src_port) == ("2001:db8::9", 5555)


async def test_connections_before_handshake_are_capped(issue: IssueCert) -> None:
    config = make_config(issue, limits=ServerLimits(max_connections=1, header_timeout=5))
    loop = asyncio.get_running_loop()
    async with tls_harness(config) as h, raw_conn(h.port) as first:
        await loop.sock_sendall(first, b"\x16\x03\x01\x02\x00\x01")  # incomplete: stays pending
        async with asyncio.timeout(5):
            while h.server.stats.partial_reads == 0:
                await asyncio.sleep(0.01)
        async with raw_conn(h.port) as second:
            await loop.sock_sendall(second, b"\x16")
            assert await read_until_eof(second) == b""
        assert h.server.stats.overflow == 1
