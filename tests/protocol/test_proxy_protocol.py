"""PROXY protocol v1/v2 parser: spec examples, LOCAL, bad families, bounds, splits."""

from __future__ import annotations

import contextlib
import socket
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shieldwall.errors import BadRequest
from shieldwall.protocol.proxy import (
    MAX_V1_BYTES,
    MAX_V2_PAYLOAD,
    V2_SIGNATURE,
    ProxyHeader,
    parse_proxy_header,
)

LOCAL = ProxyHeader(None, 0, None, 0)


def v2(ver_cmd: int, fam: int, block: bytes) -> bytes:
    return V2_SIGNATURE + bytes([ver_cmd, fam]) + struct.pack("!H", len(block)) + block


def v2_inet(src: str, dst: str, sport: int, dport: int, tlvs: bytes = b"") -> bytes:
    block = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!HH", sport, dport)
    return v2(0x21, 0x11, block + tlvs)


def v2_inet6(src: str, dst: str, sport: int, dport: int) -> bytes:
    a = socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(socket.AF_INET6, dst)
    return v2(0x21, 0x21, a + struct.pack("!HH", sport, dport))


V1_CASES = [
    (
        b"PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n",
        ProxyHeader("255.255.255.255", 65535, "255.255.255.255", 65535),
    ),
    (
        b"PROXY TCP4 192.0.2.1 198.51.100.7 56324 443\r\n",
        ProxyHeader("192.0.2.1", 56324, "198.51.100.7", 443),
    ),
    (
        b"PROXY TCP6 ffff:f:f:f:f:f:f:ffff ffff:f:f:f:f:f:f:ffff 65535 65535\r\n",
        ProxyHeader("ffff:f:f:f:f:f:f:ffff", 65535, "ffff:f:f:f:f:f:f:ffff", 65535),
    ),
    (b"PROXY TCP6 2001:db8::1 ::1 0 80\r\n", ProxyHeader("2001:db8::1", 0, "::1", 80)),
    (b"PROXY UNKNOWN\r\n", LOCAL),
    (b"PROXY UNKNOWN " + b"f" * 90 + b"\r\n", LOCAL),  # rest of the line is ignored
]


@pytest.mark.parametrize(("line", "expected"), V1_CASES)
def test_v1(line: bytes, expected: ProxyHeader) -> None:
    payload = b"\x16\x03\x01rest"
    assert parse_proxy_header(line + payload) == (expected, len(line))


def test_v1_longest_line_from_spec_fits() -> None:
    ip6 = b"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
    line = b"PROXY UNKNOWN " + ip6 + b" " + ip6 + b" 65535 65535\r\n"
    assert len(line) == MAX_V1_BYTES
    assert parse_proxy_header(line) == (LOCAL, MAX_V1_BYTES)
    with pytest.raises(BadRequest):
        parse_proxy_header(b"PROXY UNKNOWN " + b"f" * 200)


@pytest.mark.parametrize(
    "line",
    [
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n",
        b"PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n",  # double space
        b"PROXY TCP4 ::1 ::1 1 2\r\n",  # family mismatch
        b"PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n",
        b"PROXY TCP4 1.2.3.04 5.6.7.8 1 2\r\n",  # leading zero octet
        b"PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 080 2\r\n",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 +80 2\r\n",
        b"PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n",  # scope id
        b"PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",
        b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",  # LF only
        b"PROXY \xff\r\n",
        b"GET / HTTP/1.1\r\n",
        b"\x16\x03\x01\x02\x00",  # TLS without the expected header
    ],
)
def test_v1_invalid(line: bytes) -> None:
    with pytest.raises(BadRequest):
        parse_proxy_header(line)


def test_v2_inet_with_tlvs() -> None:
    tlv = bytes([0x04]) + struct.pack("!H", 3) + b"abc"  # PP2_TYPE_NOOP
    data = v2_inet("192.0.2.1", "203.0.113.9", 1234, 443, tlv)
    assert parse_proxy_header(data + b"\x16\x03") == (
        ProxyHeader("192.0.2.1", 1234, "203.0.113.9", 443),
        len(data),
    )


def test_v2_inet6() -> None:
    data = v2_inet6("2001:db8::7", "::1", 40000, 8443)
    assert parse_proxy_header(data) == (ProxyHeader("2001:db8::7", 40000, "::1", 8443), 52)


def test_v2_local_ignores_address_block() -> None:
    data = v2(0x20, 0x11, b"\x00" * 12)
    assert parse_proxy_header(data) == (LOCAL, 28)
    assert parse_proxy_header(v2(0x20, 0x00, b"")) == (LOCAL, 16)


def test_v2_unspec_and_unix() -> None:
    assert parse_proxy_header(v2(0x21, 0x00, b"")) == (LOCAL, 16)
    assert parse_proxy_header(v2(0x21, 0x31, b"\x00" * 216)) == (LOCAL, 232)


@pytest.mark.parametrize(
    "data",
    [
        v2(0x11, 0x11, b"\x00" * 12),  # version 1 in the binary format
        v2(0x22, 0x11, b"\x00" * 12),  # unknown command
        v2(0x21, 0x41, b"\x00" * 12),  # unknown family
        v2(0x21, 0x12, b"\x00" * 12),  # datagram on a stream
        v2(0x21, 0x13, b"\x00" * 12),  # unknown transport
        v2(0x21, 0x11, b"\x00" * 11),  # address block too short
        v2(0x21, 0x21, b"\x00" * 12),  # IPv6 needs 36 bytes
        v2(0x21, 0x31, b"\x00" * 100),  # AF_UNIX needs 216 bytes
        V2_SIGNATURE[:11] + b"X",
    ],
)
def test_v2_invalid(data: bytes) -> None:
    with pytest.raises(BadRequest):
        parse_proxy_header(data)


def test_v2_oversize_rejected_from_the_length_field() -> None:
    head = V2_SIGNATURE + b"\x21\x11" + struct.pack("!H", MAX_V2_PAYLOAD + 1)
    with pytest.raises(BadRequest):
        parse_proxy_header(head)
    ok = v2(0x21, 0x11, b"\x7f\x00\x00\x01" * 2 + b"\x00\x01\x00\x02" + b"\x00" * 2036)
    assert parse_proxy_header(ok) is not None


ALL_VALID = [line for line, _ in V1_CASES] + [
    v2_inet("10.1.2.3", "10.0.0.1", 5, 6),
    v2_inet6("::2", "::3", 7, 8),
    v2(0x20, 0x00, b""),
]


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(ALL_VALID), st.data())
def test_every_prefix_needs_more_and_full_parses_the_same(
    header: bytes, data: st.DataObject
) -> None:
    cut = data.draw(st.integers(min_value=0, max_value=len(header) - 1))
    assert parse_proxy_header(header[:cut]) is None
    full = parse_proxy_header(header + b"trailing")
    assert full is not None and full[1] == len(header)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_garbage_only_raises_bad_request(blob: bytes) -> None:
    for candidate in (blob, b"PROXY " + blob, V2_SIGNATURE + blob):
        with contextlib.suppress(BadRequest):
            parse_proxy_header(candidate)


def test_bytes_wanted() -> None:
    from shieldwall.protocol.proxy import proxy_header_bytes_wanted

    full = v2_inet6("::2", "::3", 7, 8)
    assert proxy_header_bytes_wanted(full[:10]) == 11
    assert proxy_header_bytes_wanted(full[:16]) == len(full) == 52
    assert proxy_header_bytes_wanted(b"PROXY TCP4 1.2") == 15
