"""ClientHello parser and JA4: real hellos from Python's ssl, hand-built ones, spec vectors."""

from __future__ import annotations

import contextlib
import itertools
import ssl
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shieldwall.errors import BadRequest
from shieldwall.protocol.clienthello import (
    MAX_CLIENT_HELLO_BYTES,
    ClientHelloInfo,
    is_grease,
    ja4_from_parts,
    parse_client_hello,
)


def real_hello(sni: str | None = None, alpn: list[str] | None = None) -> bytes:
    """The first flight of Python's own TLS client (OpenSSL) via MemoryBIO."""
    ctx = ssl.create_default_context()
    if sni is None:
        ctx.check_hostname = False
    if alpn:
        ctx.set_alpn_protocols(alpn)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname=sni)
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    return outgoing.read()


def ext(etype: int, body: bytes) -> bytes:
    return struct.pack("!HH", etype, len(body)) + body


def u16s(values: list[int], len_bytes: int = 2) -> bytes:
    raw = b"".join(struct.pack("!H", v) for v in values)
    return len(raw).to_bytes(len_bytes, "big") + raw


def build_hello(
    ciphers: list[int],
    extensions: list[bytes] | None,
    *,
    version: int = 0x0303,
    session_id: bytes = b"\x11" * 32,
    record_size: int = 1 << 14,
) -> bytes:
    body = struct.pack("!H", version) + b"\x22" * 32
    body += bytes([len(session_id)]) + session_id + u16s(ciphers) + b"\x01\x00"
    if extensions is not None:
        exts = b"".join(extensions)
        body += struct.pack("!H", len(exts)) + exts
    msg = b"\x01" + len(body).to_bytes(3, "big") + body
    out = b""
    for i in range(0, len(msg), record_size):
        frag = msg[i : i + record_size]
        out += b"\x16\x03\x01" + struct.pack("!H", len(frag)) + frag
    return out


def sni_ext(name: bytes) -> bytes:
    entry = b"\x00" + struct.pack("!H", len(name)) + name
    return ext(0, struct.pack("!H", len(entry)) + entry)


def alpn_ext(*names: bytes) -> bytes:
    lst = b"".join(bytes([len(n)]) + n for n in names)
    return ext(16, struct.pack("!H", len(lst)) + lst)


# The worked example of the JA4 spec (FoxIO technical_details/JA4.md), in original order.
SPEC_CIPHERS = [0x1301, 0x1302, 0x1303, 0xC02B, 0xC02F, 0xC02C, 0xC030, 0xCCA9, 0xCCA8]
SPEC_CIPHERS += [0xC013, 0xC014, 0x009C, 0x009D, 0x002F, 0x0035]
SPEC_EXTS = [0x001B, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002D, 0x000D, 0x0005, 0x0023]
SPEC_EXTS += [0x0012, 0x002B, 0xFF01, 0x000B, 0x000A, 0x0015]
SPEC_SIGALGS = [0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601]


def spec_hello(grease: bool = True) -> bytes:
    ciphers = ([0x7A7A] if grease else []) + SPEC_CIPHERS
    exts: list[bytes] = [ext(0xBABA, b"")] if grease else []
    for e in SPEC_EXTS:
        if e == 0x0000:
            exts.append(sni_ext(b"www.example.com"))
        elif e == 0x0010:
            exts.append(alpn_ext(b"h2", b"http/1.1"))
        elif e == 0x000D:
            exts.append(ext(e, u16s(SPEC_SIGALGS)))
        elif e == 0x002B:
            vs = ([0x3A3A] if grease else []) + [0x0304, 0x0303]
            exts.append(ext(e, u16s(vs, 1)))
        elif e == 0x000A:
            exts.append(ext(e, u16s([0x2A2A, 29, 23])))
        else:
            exts.append(ext(e, b""))
    if grease:
        exts.append(ext(0x1A1A, b"\x00"))
    return build_hello(ciphers, exts)


def test_ja4_spec_example() -> None:
    info = parse_client_hello(spec_hello())
    assert info is not None
    assert info.ja4 == "t13d1516h2_8daaf6152771_e5627efa2ab1"
    assert info.sni == "www.example.com"
    assert info.alpn == ("h2", "http/1.1")
    assert info.versions == (0x3A3A, 0x0304, 0x0303)  # wire order, GREASE kept


def test_ja4_raw_and_spec_hash_without_sigalgs() -> None:
    kw = dict(version=0x0304, has_sni=True, ciphers=tuple(SPEC_CIPHERS), first_alpn=b"h2")
    raw = ja4_from_parts(
        extensions=tuple(SPEC_EXTS), signature_algorithms=tuple(SPEC_SIGALGS), raw=True, **kw
    )
    assert raw == (
        "t13d1516h2_002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,cca9_"
        "0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01_"
        "0403,0804,0401,0503,0805,0501,0806,0601"
    )
    # Spec: with no signature algorithms the list ends without "_" -> 6d807ffa2a79.
    no_sig = ja4_from_parts(extensions=tuple(SPEC_EXTS), signature_algorithms=(), **kw)
    assert no_sig == "t13d1516h2_8daaf6152771_6d807ffa2a79"


def test_ja4_browserleaks_chrome_vector() -> None:
    # A published Chrome 143 capture (ja4 + ja4_ro from browserleaks): original order in,
    # the published hash out.
    ciphers = "1301,1302,1303,c02b,c02f,c02c,c030,cca9,cca8,c013,c014,009c,009d,002f,0035"
    exts = "002d,0033,0010,fe0d,0017,44cd,0000,000b,000a,002b,ff01,0023,0012,0005,000d,001b"
    sigs = "0403,0804,0401,0503,0805,0501,0806,0601"
    got = ja4_from_parts(
        version=0x0304,
        has_sni=True,
        ciphers=tuple(int(x, 16) for x in ciphers.split(",")),
        extensions=tuple(int(x, 16) for x in exts.split(",")),
        signature_algorithms=tuple(int(x, 16) for x in sigs.split(",")),
        first_alpn=b"h2",
    )
    assert got == "t13d1516h2_8daaf6152771_d8a2da3f94cd"


@pytest.mark.parametrize(
    ("alpn", "expected"),
    [
        (None, "00"),
        (b"h2", "h2"),
        (b"http/1.1", "h1"),
        (b"x", "xx"),
        (b"\xab", "ab"),
        (b"\xab\xcd", "ad"),
        (b"\x30\xab", "3b"),
        (b"\x30\x31\xab\xcd", "3d"),
        (b"\x30\xab\xcd\x31", "01"),
    ],
)
def test_ja4_alpn_chars(alpn: bytes | None, expected: str) -> None:
    got = ja4_from_parts(
        version=0x0303,
        has_sni=False,
        ciphers=(0x1301,),
        extensions=(),
        signature_algorithms=(),
        first_alpn=alpn,
    )
    assert got.split("_")[0] == "t12i0100" + expected
    assert got.split("_")[2] == "000000000000"  # empty extension list


def test_ja4_counts_cap_at_99_and_version_fallback() -> None:
    info = parse_client_hello(build_hello(list(range(1, 120)), None, version=0x0302))
    assert info is not None
    assert info.ja4.startswith("t11i990000_")
    assert info.extensions == ()


def test_grease() -> None:
    assert all(is_grease(v) for v in (0x0A0A, 0x1A1A, 0xFAFA))
    assert not any(is_grease(v) for v in (0x0A1A, 0x1301, 0x000A, 0xAAAB))


@pytest.mark.parametrize(
    ("sni", "alpn"), [("example.com", ["http/1.1"]), ("A.Example.ORG", ["h2", "http/1.1"])]
)
def test_real_hellos(sni: str, alpn: list[str]) -> None:
    data = real_hello(sni, alpn)
    info = parse_client_hello(data)
    assert isinstance(info, ClientHelloInfo)
    assert info.sni == sni.lower()
    assert info.alpn == tuple(alpn)
    assert info.wire_bytes == len(data)
    assert 0x0304 in info.versions
    assert info.signature_algorithms
    assert info.ja4.startswith(f"t13d{len(info.cipher_suites):02d}")
    assert info.ja4[8:10] == alpn[0][0] + alpn[0][-1]
    _a, b, c = info.ja4.split("_")
    assert len(b) == len(c) == 12


def test_real_hello_without_sni() -> None:
    info = parse_client_hello(real_hello())
    assert info is not None
    assert info.sni is None
    assert info.ja4[3] == "i"
    assert info.ja4[8:10] == "00"


def test_extra_bytes_after_hello_are_ignored() -> None:
    data = real_hello("example.com")
    info = parse_client_hello(data + b"\x14\x03\x03\x00\x01\x01")
    assert info is not None and info.wire_bytes == len(data)


def test_every_prefix_needs_more() -> None:
    data = real_hello("example.com", ["http/1.1"])
    for i in range(len(data)):
        assert parse_client_hello(data[:i]) is None


def _rerecord(data: bytes, cuts: list[int]) -> bytes:
    """Re-split the handshake message of ``data`` into records at ``cuts`` (msg offsets)."""
    msg = data[5:]
    bounds = [0, *sorted({c for c in cuts if 0 < c < len(msg)}), len(msg)]
    out = b""
    for a, b in itertools.pairwise(bounds):
        out += b"\x16\x03\x03" + struct.pack("!H", b - a) + msg[a:b]
    return out


HELLO = real_hello("split.example.net", ["http/1.1"])
EXPECTED = parse_client_hello(HELLO)


@settings(max_examples=150, deadline=None)
@given(cuts=st.lists(st.integers(min_value=1, max_value=len(HELLO)), max_size=6), data=st.data())
def test_any_record_split_and_read_split_gives_same_result(
    cuts: list[int], data: st.DataObject
) -> None:
    wire = _rerecord(HELLO, cuts)
    read_at = data.draw(st.integers(min_value=0, max_value=len(wire)))
    head = parse_client_hello(wire[:read_at])
    assert head is None or read_at == len(wire)
    info = parse_client_hello(wire)
    assert info is not None and EXPECTED is not None
    assert info.ja4 == EXPECTED.ja4
    assert info.sni == EXPECTED.sni
    assert info.extensions == EXPECTED.extensions
    assert info.wire_bytes == len(wire)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_garbage_only_raises_bad_request(blob: bytes) -> None:
    for candidate in (blob, b"\x16\x03\x01" + blob, HELLO[:9] + blob, HELLO[:60] + blob):
        with contextlib.suppress(BadRequest):
            parse_client_hello(candidate)


@pytest.mark.parametrize(
    "data",
    [
        b"GET / HTTP/1.1\r\n\r\n",
        b"\x80\x2e\x01\x00\x02",  # SSLv2-style hello
        b"\x16\x02",  # record version major 2
        b"\x16\x03\x01\x00\x00",  # empty record
        b"\x16\x03\x01\x40\x01",  # record longer than 2^14
        b"\x16\x03\x01\x00\x04\x02\x00\x00\x00",  # ServerHello, not ClientHello
        b"\x16\x03\x01\x00\x04\x01\x01\x00\x00",  # ClientHello body > 16 KiB declared
        b"\x16\x03\x01\x00\x02\x01\x00\x15\x03\x01",  # alert record in the middle
    ],
)
def test_bad_starts(data: bytes) -> None:
    with pytest.raises(BadRequest):
        parse_client_hello(data)


@pytest.mark.parametrize(
    "hello",
    [
        build_hello([], []),  # no cipher suites
        build_hello([0x1301], [ext(0, b""), ext(0, b"")]),  # empty SNI ext
        build_hello([0x1301], [ext(10, u16s([29])), ext(10, u16s([29]))]),  # duplicate ext
        build_hello([0x1301], [sni_ext(b"bad host")]),
        build_hello([0x1301], [sni_ext(b"")]),
        build_hello([0x1301], [alpn_ext(b"")]),
        build_hello([0x1301], [ext(43, b"\x03\x03\x04")]),  # odd supported_versions
        build_hello([0x1301], [ext(13, b"\x00\x02\x04")]),  # truncated vector
        build_hello([0x1301], [], session_id=b"\x00" * 33),
        build_hello([0x1301], [], version=0x0200),
    ],
)
def test_malformed_bodies(hello: bytes) -> None:
    with pytest.raises(BadRequest):
        parse_client_hello(hello)


def test_trailing_bytes_inside_message() -> None:
    hello = build_hello([0x1301], [ext(10, u16s([29]))])
    msg = bytearray(hello[5:])
    msg += b"\x00"
    msg[1:4] = (len(msg) - 4).to_bytes(3, "big")
    with pytest.raises(BadRequest):
        parse_client_hello(b"\x16\x03\x01" + struct.pack("!H", len(msg)) + bytes(msg))


def test_size_bound() -> None:
    big = ext(0xFFCE, b"\x00" * (MAX_CLIENT_HELLO_BYTES))
    with pytest.raises(BadRequest):
        parse_client_hello(build_hello([0x1301], [big])[:20])
    ok = ext(0xFFCE, b"\x00" * (MAX_CLIENT_HELLO_BYTES - 200))
    info = parse_client_hello(build_hello([0x1301], [ok]))
    assert info is not None and info.extensions == (0xFFCE,)


def test_too_many_tiny_records() -> None:
    with pytest.raises(BadRequest):
        parse_client_hello(_rerecord(HELLO, list(range(1, 200))))


def test_sni_trailing_dot_and_case() -> None:
    info = parse_client_hello(build_hello([0x1301], [sni_ext(b"WWW.Example.com.")]))
    assert info is not None and info.sni == "www.example.com"


def test_bytes_wanted_points_at_record_boundaries() -> None:
    from shieldwall.protocol.clienthello import client_hello_bytes_wanted

    wire = _rerecord(HELLO, [100, 300])  # records of 100, 200 and the rest
    assert client_hello_bytes_wanted(wire[:3]) == 5
    assert client_hello_bytes_wanted(wire[:5]) == 105
    assert client_hello_bytes_wanted(wire[:104]) == 105
    assert client_hello_bytes_wanted(wire[:105]) == 110
    assert client_hello_bytes_wanted(wire[:111]) == 310
