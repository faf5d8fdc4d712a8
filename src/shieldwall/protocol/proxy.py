"""Sans-IO PROXY protocol (v1 text and v2 binary) header parser.

Spec: HAProxy's ``proxy-protocol.txt`` (versions 1 and 2). A load balancer in front of the
edge prepends one header to the TCP stream that says who the real client was. It is only
believed from trusted peers; that decision belongs to the caller, not to this module.

``parse_proxy_header(data)`` is a pure function of all bytes received so far:

- ``None``: every byte seen is a valid prefix of a header; read more.
- ``(ProxyHeader, consumed)``: a complete header; the stream continues at ``data[consumed:]``.
- ``BadRequest``: not a PROXY header, or a malformed/oversized one. The signature is checked on
  the first byte already, so a client that does not speak PROXY is rejected immediately.

Bounds (named below): a v1 line is at most 107 bytes including CRLF (the spec's own maximum).
A v2 header is 16 fixed bytes plus a self-declared length; the spec sizes the address block
(at most 216 bytes, AF_UNIX) to fit a 536-byte segment, and TLVs come on top. We accept a
declared length of at most ``MAX_V2_PAYLOAD`` (2 KiB), generous for every real sender (AWS,
GCP, HAProxy TLVs are tens of bytes) while bounding what a peer makes us buffer.

Semantics: v1 ``UNKNOWN``, v2 ``LOCAL`` and v2 ``AF_UNSPEC``/``AF_UNIX`` all yield a header with
``None`` addresses, meaning "use the socket's own endpoints". v2 families other than
UNSPEC/INET/INET6/UNIX, transports other than UNSPEC/STREAM (a datagram header on a TCP
stream is nonsense), versions other than 2 and commands other than LOCAL/PROXY are rejected,
as the spec requires. TLVs are skipped (not validated beyond the declared length).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from shieldwall.errors import BadRequest

__all__ = [
    "MAX_PROXY_HEADER_BYTES",
    "MAX_V1_BYTES",
    "MAX_V2_PAYLOAD",
    "V1_SIGNATURE",
    "V2_SIGNATURE",
    "ProxyHeader",
    "parse_proxy_header",
    "proxy_header_bytes_wanted",
]

V1_SIGNATURE = b"PROXY "
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
MAX_V1_BYTES = 107  # spec: "PROXY UNKNOWN" + two IPv6 + two ports + CRLF
MAX_V2_PAYLOAD = 2048  # declared v2 length (address block + TLVs) we accept
MAX_PROXY_HEADER_BYTES = 16 + MAX_V2_PAYLOAD  # the most a caller ever needs to buffer

_V2_ADDR_LEN = {1: 12, 2: 36, 3: 216}  # INET, INET6, UNIX address block sizes


@dataclass(frozen=True, slots=True)
class ProxyHeader:
    """The connection as the proxy saw it. ``None`` ips: LOCAL/UNKNOWN, use the socket's."""

    src_ip: str | None
    src_port: int
    dst_ip: str | None
    dst_port: int


_LOCAL = ProxyHeader(None, 0, None, 0)


def _port(token: bytes) -> int:
    # Decimal, no sign, no leading zero (except "0" itself), at most 65535.
    if not token.isdigit() or len(token) > 5 or (len(token) > 1 and token[0] == 0x30):
        raise BadRequest("bad port in PROXY header")
    value = int(token)
    if value > 65535:
        raise BadRequest("bad port in PROXY header")
    return value


def _parse_v1(data: bytes) -> tuple[ProxyHeader, int] | None:
    end = data.find(b"\r\n", 0, MAX_V1_BYTES)
    if end < 0:
        if len(data) >= MAX_V1_BYTES:
            raise BadRequest("PROXY v1 line too long")
        if b"\n" in data or b"\x00" in data:
            raise BadRequest("malformed PROXY v1 line")
        return None
    line = data[:end]
    consumed = end + 2
    parts = line.split(b" ")
    if len(parts) < 2 or parts[0] != b"PROXY":
        raise BadRequest("malformed PROXY v1 line")
    proto = parts[1]
    if proto == b"UNKNOWN":
        return _LOCAL, consumed  # the rest of the line is to be ignored
    if proto not in (b"TCP4", b"TCP6") or len(parts) != 6:
        raise BadRequest("malformed PROXY v1 line")
    try:
        text = [p.decode("ascii") for p in parts[2:4]]
    except UnicodeDecodeError:
        raise BadRequest("bad address in PROXY header") from None
    if any("%" in t for t in text):  # ipaddress accepts IPv6 scope ids; the spec does not
        raise BadRequest("bad address in PROXY header")
    cls = ipaddress.IPv4Address if proto == b"TCP4" else ipaddress.IPv6Address
    try:
        src, dst = (cls(t) for t in text)
    except ValueError:
        raise BadRequest("bad address in PROXY header") from None
    return ProxyHeader(str(src), _port(parts[4]), str(dst), _port(parts[5])), consumed


def _parse_v2(data: bytes) -> tuple[ProxyHeader, int] | None:
    if len(data) >= 13:
        ver_cmd = data[12]
        if ver_cmd >> 4 != 2:
            raise BadRequest("unsupported PROXY protocol version")
        if ver_cmd & 0x0F not in (0, 1):
            raise BadRequest("unknown PROXY v2 command")
    if len(data) >= 14:
        family, transport = data[13] >> 4, data[13] & 0x0F
        if family > 3:
            raise BadRequest("unknown PROXY v2 address family")
        if transport not in (0, 1):
            raise BadRequest("unsupported PROXY v2 transport")
    if len(data) < 16:
        return None
    length = int.from_bytes(data[14:16], "big")
    if length > MAX_V2_PAYLOAD:
        raise BadRequest("PROXY v2 header too large")
    total = 16 + length
    if len(data) < total:
        return None
    if data[12] & 0x0F == 0:  # LOCAL: health checks etc.; the address block is ignored
        return _LOCAL, total
    family, transport = data[13] >> 4, data[13] & 0x0F
    if family == 0 or transport == 0:
        return _LOCAL, total  # UNSPEC: the receiver uses the real connection endpoints
    need = _V2_ADDR_LEN[family]
    if length < need:
        raise BadRequest("PROXY v2 address block too short")
    if family == 3:
        return _LOCAL, total  # AF_UNIX: no IP to report
    block = data[16 : 16 + need]
    n = 4 if family == 1 else 16
    src = ipaddress.ip_address(block[:n])
    dst = ipaddress.ip_address(block[n : 2 * n])
    sport = int.from_bytes(block[2 * n : 2 * n + 2], "big")
    dport = int.from_bytes(block[2 * n + 2 : 2 * n + 4], "big")
    return ProxyHeader(str(src), sport, str(dst), dport), total


def proxy_header_bytes_wanted(data: bytes) -> int:
    """For an incomplete ``data``: how many bytes (from the start) to wait for before parsing
    again (v2: the declared total once the length field is in; otherwise one more byte)."""
    if len(data) >= 16 and data[:12] == V2_SIGNATURE:
        return min(16 + int.from_bytes(data[14:16], "big"), MAX_PROXY_HEADER_BYTES)
    return len(data) + 1


def parse_proxy_header(data: bytes) -> tuple[ProxyHeader, int] | None:
    """Parse a PROXY v1 or v2 header at the start of ``data``.

    Returns ``(header, bytes_consumed)``, or ``None`` if more bytes are needed; raises
    ``BadRequest`` if ``data`` cannot start with a valid header.
    """
    if not data:
        return None
    n = min(len(data), 12)
    if data[:n] == V2_SIGNATURE[:n]:
        return _parse_v2(data) if n == 12 else None
    n = min(len(data), 6)
    if data[:n] == V1_SIGNATURE[:n]:
        return _parse_v1(data) if n == 6 else None
    raise BadRequest("missing PROXY protocol header")
