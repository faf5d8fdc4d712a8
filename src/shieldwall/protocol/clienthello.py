"""Sans-IO TLS ClientHello parser and JA4 fingerprint.

Theory of operation
-------------------
The edge peeks at the first bytes of a TLS connection before OpenSSL sees them, so that the
certificate can be chosen from SNI and the client fingerprinted from what it actually sent
(the result does not depend on the TLS library). ``parse_client_hello`` is a pure function of
*all bytes received so far*: it returns ``None`` while more bytes are needed, a
``ClientHelloInfo`` once the whole ClientHello message is there, and raises ``BadRequest`` as
soon as the bytes cannot be the start of a TLS 1.x ClientHello. Because it is stateless, the
caller may call it again with a longer buffer (e.g. each ``recv(MSG_PEEK)``); the answer for a
given complete prefix never depends on how the bytes were split.

Wire format (RFC 8446 §5.1, §4.1.2; RFC 5246 §6.2.1, §7.4.1.2):

- TLSPlaintext records: ``type(1)=22 handshake | legacy_version(2)=0x03xx | length(2)``, the
  fragment at most 2^14 bytes, never empty. A handshake message may span several records, and
  only handshake records may precede the ClientHello's end.
- Handshake: ``msg_type(1)=1 client_hello | length(3)`` then the body:
  ``legacy_version(2) random(32) session_id<0..32> cipher_suites<2..2^16-2>
  legacy_compression_methods<1..2^8-1> extensions<0..2^16-1>`` (extensions may be absent
  altogether in TLS 1.2). Extension types must not repeat (RFC 8446 §4.2).

Tuples in ``ClientHelloInfo`` keep the wire order and *include* GREASE values (RFC 8701): a
detector may care that a client sends GREASE. JA4 ignores them.

JA4 (FoxIO, BSD-3-Clause spec, ``technical_details/JA4.md``)::

    t | version | d/i | NN ciphers | NN extensions | ALPN first+last char
    _ sha256(sorted ciphers, "," joined)[:12]
    _ sha256(sorted extensions minus SNI and ALPN, "_" + signature algorithms in order)[:12]

Version: the highest non-GREASE ``supported_versions`` entry, else the legacy version. Counts
exclude GREASE and are capped at 99. An empty list hashes to ``000000000000``. The ALPN part
is ``00`` without ALPN, else the first and last byte of the first protocol name if both are
ASCII alphanumeric, else the first and last hex digit of that name.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

from shieldwall.errors import BadRequest

__all__ = [
    "MAX_CLIENT_HELLO_BYTES",
    "MAX_CLIENT_HELLO_WIRE_BYTES",
    "ClientHelloInfo",
    "client_hello_bytes_wanted",
    "is_grease",
    "ja4_from_parts",
    "parse_client_hello",
]

# A real ClientHello is 0.2-2 KiB (post-quantum key shares included). 16 KiB of handshake body
# leaves headroom for big PSK identities while bounding what an attacker makes us buffer/parse.
MAX_CLIENT_HELLO_BYTES = 16 * 1024
# Record headers add 5 bytes per record; a legitimate client fills records (>= 2^14 bytes each),
# but a hostile one may send 1-byte records: 64 records of overhead is plenty for any real one.
_MAX_RECORDS = 64
MAX_CLIENT_HELLO_WIRE_BYTES = MAX_CLIENT_HELLO_BYTES + 4 + 5 * _MAX_RECORDS

_RECORD_HANDSHAKE = 22
_HANDSHAKE_CLIENT_HELLO = 1
_MAX_FRAGMENT = 1 << 14
_MAX_SNI_BYTES = 253  # RFC 1035 name length in presentation form

EXT_SERVER_NAME = 0x0000
EXT_SUPPORTED_GROUPS = 0x000A
EXT_SIGNATURE_ALGORITHMS = 0x000D
EXT_ALPN = 0x0010
EXT_SUPPORTED_VERSIONS = 0x002B

_PARSED_EXTENSIONS = frozenset(
    {EXT_SERVER_NAME, EXT_SUPPORTED_GROUPS, EXT_SIGNATURE_ALGORITHMS}
    | {EXT_ALPN, EXT_SUPPORTED_VERSIONS}
)
_HH = struct.Struct("!HH")
_SNI_CHARS = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._")
_ALNUM = frozenset(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")

_JA4_VERSIONS = {
    0x0304: "13",
    0x0303: "12",
    0x0302: "11",
    0x0301: "10",
    0x0300: "s3",
    0x0002: "s2",
    0xFEFF: "d1",
    0xFEFD: "d2",
    0xFEFC: "d3",
}
_EMPTY_HASH = "000000000000"


@dataclass(frozen=True, slots=True)
class ClientHelloInfo:
    """What a client said in its ClientHello. Tuples keep wire order, GREASE included."""

    sni: str | None  # lower-cased host_name from server_name, None if absent
    alpn: tuple[str, ...]  # protocol names (latin-1 decoded, lossless)
    legacy_version: int  # ClientHello.legacy_version (0x0303 for TLS 1.2 and 1.3)
    versions: tuple[int, ...]  # supported_versions entries; () if the extension is absent
    cipher_suites: tuple[int, ...]
    extensions: tuple[int, ...]  # extension types in the order sent
    signature_algorithms: tuple[int, ...]
    supported_groups: tuple[int, ...]
    ja4: str
    wire_bytes: int  # bytes of TLS records that carried the ClientHello (incl. headers)


def is_grease(value: int) -> bool:
    """RFC 8701 GREASE code point: 0x?A?A with equal bytes (works for u16 values)."""
    return (value & 0x0F0F) == 0x0A0A and (value >> 8) == (value & 0xFF)


_GREASE = frozenset(v for v in range(0x0A0A, 0x10000, 0x1010) if is_grease(v))


def _hexlist(values: list[int]) -> str:
    """``[0x2f, 0x1301]`` -> ``"002f,1301"`` (lower-case, 4 digits, comma separated)."""
    return struct.pack(f"!{len(values)}H", *values).hex(",", 2)


def _hash12(text: str) -> str:
    return hashlib.sha256(text.encode("ascii")).hexdigest()[:12]


def _alpn_chars(first: bytes | None) -> str:
    if not first:
        return "00"
    a, z = first[0], first[-1]
    if a in _ALNUM and z in _ALNUM:
        return chr(a) + chr(z)
    h = first.hex()
    return h[0] + h[-1]


def ja4_from_parts(
    *,
    version: int,
    has_sni: bool,
    ciphers: tuple[int, ...],
    extensions: tuple[int, ...],
    signature_algorithms: tuple[int, ...],
    first_alpn: bytes | None,
    raw: bool = False,
) -> str:
    """The JA4 string (``raw=True``: JA4_r, the un-hashed sorted form) for TLS over TCP.

    ``version`` is the already resolved version (see module docstring); lists may contain
    GREASE values, which are dropped here.
    """
    grease = _GREASE
    cs = sorted([c for c in ciphers if c not in grease])
    exts = [e for e in extensions if e not in grease]
    sigs = [s for s in signature_algorithms if s not in grease]
    a = "t{}{}{:02d}{:02d}{}".format(
        _JA4_VERSIONS.get(version, "00"),
        "d" if has_sni else "i",
        min(len(cs), 99),
        min(len(exts), 99),
        _alpn_chars(first_alpn),
    )
    b_raw = _hexlist(cs)
    c_list = sorted([e for e in exts if e != EXT_SERVER_NAME and e != EXT_ALPN])
    c_raw = _hexlist(c_list)
    if sigs:
        c_raw += "_" + _hexlist(sigs)
    if raw:
        return f"{a}_{b_raw}_{c_raw}"
    b = _hash12(b_raw) if cs else _EMPTY_HASH
    c = _hash12(c_raw) if c_list else _EMPTY_HASH
    return f"{a}_{b}_{c}"


def _reassemble(data: bytes) -> tuple[bytes, int] | None:
    """Handshake bytes of the first handshake message, and wire bytes used; None if short."""
    if data and data[0] != _RECORD_HANDSHAKE:
        raise BadRequest("not a TLS handshake record")
    out = bytearray()
    pos = 0
    records = 0
    need: int | None = None  # total handshake bytes, once the 4-byte header is known
    while need is None or len(out) < need:
        if len(data) - pos < 5:
            _check_partial_header(data[pos:])
            return None
        hdr = data[pos : pos + 5]
        if hdr[0] != _RECORD_HANDSHAKE:
            raise BadRequest("non-handshake record inside the ClientHello")
        if hdr[1] != 3:
            raise BadRequest("bad TLS record version")
        length = int.from_bytes(hdr[3:5], "big")
        if length == 0 or length > _MAX_FRAGMENT:
            raise BadRequest("bad TLS record length")
        records += 1
        if records > _MAX_RECORDS:
            raise BadRequest("ClientHello split over too many records")
        pos += 5
        end = pos + length
        out += data[pos:end]
        pos = min(end, len(data))
        if need is None and len(out) >= 4:
            if out[0] != _HANDSHAKE_CLIENT_HELLO:
                raise BadRequest("first handshake message is not a ClientHello")
            body = int.from_bytes(out[1:4], "big")
            if body > MAX_CLIENT_HELLO_BYTES:
                raise BadRequest("ClientHello too large")
            need = 4 + body
        if end > len(data):
            if need is not None and len(out) >= need:
                break  # the record is incomplete but the message is not: good enough
            return None
    assert need is not None
    return bytes(out[4:need]), pos


def _check_partial_header(head: bytes) -> None:
    if len(head) >= 1 and head[0] != _RECORD_HANDSHAKE:
        raise BadRequest("non-handshake record inside the ClientHello")
    if len(head) >= 2 and head[1] != 3:
        raise BadRequest("bad TLS record version")


def _vec(buf: bytes, pos: int, end: int, len_bytes: int) -> tuple[int, int]:
    """Bounds of the vector with a ``len_bytes`` length prefix at ``pos``; checked against
    ``end`` (every overrun is a BadRequest)."""
    start = pos + len_bytes
    if start > end:
        raise BadRequest("truncated ClientHello field")
    n = buf[pos] if len_bytes == 1 else int.from_bytes(buf[pos:start], "big")
    stop = start + n
    if stop > end:
        raise BadRequest("truncated ClientHello field")
    return start, stop


def _u16s(buf: bytes, start: int, stop: int) -> tuple[int, ...]:
    n = stop - start
    if n % 2 or n == 0:
        raise BadRequest("malformed list of 16-bit values")
    return struct.unpack_from(f"!{n >> 1}H", buf, start)


def _u16_list_ext(buf: bytes, start: int, stop: int, len_bytes: int) -> tuple[int, ...]:
    """An extension body that is exactly one non-empty vector of u16 values."""
    a, b = _vec(buf, start, stop, len_bytes)
    if b != stop:
        raise BadRequest("trailing bytes in TLS extension")
    return _u16s(buf, a, b)


def _parse_sni(buf: bytes, start: int, stop: int) -> str | None:
    pos, end = _vec(buf, start, stop, 2)
    if end != stop:
        raise BadRequest("trailing bytes in server_name")
    host: str | None = None
    while pos < end:
        name_type = buf[pos]
        a, b = _vec(buf, pos + 1, end, 2)
        pos = b
        if name_type == 0 and host is None:
            value = buf[a:b]
            if not value or len(value) > _MAX_SNI_BYTES + 1 or not _SNI_CHARS.issuperset(value):
                raise BadRequest("malformed SNI host name")
            host = value.decode("ascii").lower()
            if host.endswith("."):
                host = host[:-1]
            if not host:
                raise BadRequest("malformed SNI host name")
    return host


def _parse_alpn(buf: bytes, start: int, stop: int) -> tuple[bytes, ...]:
    pos, end = _vec(buf, start, stop, 2)
    if end != stop or pos == end:
        raise BadRequest("malformed ALPN list")
    out = []
    while pos < end:
        a, b = _vec(buf, pos, end, 1)
        if a == b:
            raise BadRequest("empty ALPN protocol name")
        out.append(buf[a:b])
        pos = b
    return tuple(out)


def _parse_body(body: bytes, wire_bytes: int) -> ClientHelloInfo:
    end = len(body)
    if end < 35:
        raise BadRequest("truncated ClientHello")
    legacy_version = (body[0] << 8) | body[1]
    if body[0] != 3:
        raise BadRequest("unsupported ClientHello version")
    a, pos = _vec(body, 34, end, 1)  # after the 32-byte random: session id
    if pos - a > 32:
        raise BadRequest("session id too long")
    a, pos = _vec(body, pos, end, 2)
    ciphers = _u16s(body, a, pos)
    a, pos = _vec(body, pos, end, 1)
    if a == pos:
        raise BadRequest("no compression methods")
    sni: str | None = None
    alpn: tuple[bytes, ...] = ()
    versions: tuple[int, ...] = ()
    sigalgs: tuple[int, ...] = ()
    groups: tuple[int, ...] = ()
    ext_types: list[int] = []
    if pos < end:
        pos, ext_end = _vec(body, pos, end, 2)
        if ext_end != end:
            raise BadRequest("trailing bytes after ClientHello extensions")
        unpack_hh = _HH.unpack_from
        while pos < ext_end:
            if pos + 4 > ext_end:
                raise BadRequest("truncated TLS extension")
            etype, elen = unpack_hh(body, pos)
            a = pos + 4
            pos = a + elen
            if pos > ext_end:
                raise BadRequest("truncated TLS extension")
            ext_types.append(etype)
            if etype not in _PARSED_EXTENSIONS:
                continue
            if etype == EXT_SERVER_NAME:
                sni = _parse_sni(body, a, pos)
            elif etype == EXT_ALPN:
                alpn = _parse_alpn(body, a, pos)
            elif etype == EXT_SUPPORTED_VERSIONS:
                versions = _u16_list_ext(body, a, pos, 1)
            elif etype == EXT_SIGNATURE_ALGORITHMS:
                sigalgs = _u16_list_ext(body, a, pos, 2)
            else:
                groups = _u16_list_ext(body, a, pos, 2)
        if len(set(ext_types)) != len(ext_types):
            raise BadRequest("duplicate TLS extension")
    real_versions = [v for v in versions if v not in _GREASE]
    version = max(real_versions) if real_versions else legacy_version
    exts = tuple(ext_types)
    ja4 = ja4_from_parts(
        version=version,
        has_sni=EXT_SERVER_NAME in exts,
        ciphers=ciphers,
        extensions=exts,
        signature_algorithms=sigalgs,
        first_alpn=alpn[0] if alpn else None,
    )
    return ClientHelloInfo(
        sni=sni,
        alpn=tuple(x.decode("latin-1") for x in alpn),
        legacy_version=legacy_version,
        versions=versions,
        cipher_suites=ciphers,
        extensions=exts,
        signature_algorithms=sigalgs,
        supported_groups=groups,
        ja4=ja4,
        wire_bytes=wire_bytes,
    )


def client_hello_bytes_wanted(data: bytes) -> int:
    """For an incomplete ``data``: how many bytes (from the start) to wait for before parsing
    again - the end of the record in progress, or the next record header. Waking up only at
    record boundaries keeps a client that trickles bytes from making us re-parse per byte."""
    pos = 0
    n = len(data)
    while pos + 5 <= n:
        end = pos + 5 + int.from_bytes(data[pos + 3 : pos + 5], "big")
        if end > n:
            return min(end, MAX_CLIENT_HELLO_WIRE_BYTES)
        pos = end
    return min(pos + 5, MAX_CLIENT_HELLO_WIRE_BYTES)


def parse_client_hello(data: bytes) -> ClientHelloInfo | None:
    """Parse the ClientHello at the start of ``data`` (all bytes received so far).

    Returns None while incomplete; raises ``BadRequest`` for anything that is not a
    well-formed TLS ClientHello of at most ``MAX_CLIENT_HELLO_BYTES``. Bytes after the
    ClientHello are ignored.
    """
    got = _reassemble(data)
    if got is None:
        return None
    body, wire = got
    return _parse_body(body, wire)
