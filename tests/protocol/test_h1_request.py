"""Sans-IO request parser: events, strict framing (RFC 9112), limits, split invariance."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shieldwall.errors import ProtocolError
from shieldwall.protocol.h1 import END, RequestHead, RequestParser


def parser(**kw: int) -> RequestParser:
    limits = {"max_header_bytes": 4096, "max_header_count": 20, "max_uri_bytes": 256} | kw
    return RequestParser(**limits)


def events(data: bytes, splits: list[int] | None = None, **kw: int) -> list[object]:
    """Feed ``data`` (split at ``splits``) and normalise: heads as tuples, body joined."""
    p = parser(**kw)
    cuts = sorted(set(splits or []))
    prev = 0
    for c in [*cuts, len(data)]:
        p.feed(data[prev:c])
        prev = c
    out: list[object] = []
    for ev in p.events:
        if isinstance(ev, RequestHead):
            out.append(("head", ev.method, ev.target, ev.version, tuple(ev.headers), ev.chunked))
        elif isinstance(ev, bytes):
            if out and isinstance(out[-1], bytes):
                out[-1] += ev
            else:
                out.append(ev)
        elif isinstance(ev, ProtocolError):
            out.append(("error", ev.status))
        else:
            out.append(ev)
    if p.upgraded:
        out.append(("tunnel", bytes(p.tunnel_data)))
    return out


def error_status(data: bytes, **kw: int) -> int | None:
    p = parser(**kw)
    p.feed(data)
    errs = [e for e in p.events if isinstance(e, ProtocolError)]
    if errs:
        assert errs[0].close
        assert p.failed
        return errs[0].status
    return None


def test_simple_get() -> None:
    evs = events(b"GET /a?b HTTP/1.1\r\nHost: x\r\nX-Y: z\r\n\r\n")
    assert evs == [("head", b"GET", b"/a?b", b"1.1", ((b"host", b"x"), (b"x-y", b"z")), False), END]


def test_pipelined_requests_all_queued_in_order() -> None:
    data = b"".join(b"GET /%d HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in range(3))
    evs = events(data)
    assert [e[2] for e in evs if isinstance(e, tuple)] == [b"/0", b"/1", b"/2"]


def test_chunked_body_and_trailers_dropped() -> None:
    data = (
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3;ext=1\r\nabc\r\n1\r\nd\r\n0\r\nX-Trailer: 1\r\n\r\n"
    )
    evs = events(data)
    assert evs[1:] == [b"abcd", END]
    assert (b"x-trailer", b"1") not in evs[0][4]  # type: ignore[index]


def test_websocket_upgrade_leaves_rest_as_tunnel_bytes() -> None:
    data = (
        b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
        b"\x81\x00RAW"
    )
    evs = events(data)
    assert evs[-2:] == [END, ("tunnel", b"\x81\x00RAW")]


def test_non_websocket_upgrade_without_body_keeps_parsing() -> None:
    data = (
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\nConnection: Upgrade\r\n\r\n"
        b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    heads = [e for e in events(data) if isinstance(e, tuple) and e[0] == "head"]
    assert [h[2] for h in heads] == [b"/", b"/next"]


SMUGGLING = {
    "cl_and_te": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "te_and_cl": b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
    b"Content-Length: 3\r\n\r\n0\r\n\r\n",
    "duplicate_cl_same": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
    b"Content-Length: 3\r\n\r\nabc",
    "duplicate_cl_differ": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
    b"Content-Length: 4\r\n\r\nabcd",
    "cl_list": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 3\r\n\r\nabc",
    "cl_sign": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\nabc",
    "cl_negative": b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    "te_gzip_chunked": b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
    "te_chunked_gzip": b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
    "te_identity": b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n\r\n",
    "te_twice": b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
    b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "te_in_http10": b"POST / HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "obs_fold": b"GET / HTTP/1.1\r\nHost: x\r\nX-A: b\r\n c\r\n\r\n",
    "bare_cr": b"GET / HTTP/1.1\r\nHost: x\r\nX-A: b\rc\r\n\r\n",
    "nul_in_value": b"GET / HTTP/1.1\r\nHost: x\r\nX-A: b\x00c\r\n\r\n",
    "ctl_in_value": b"GET / HTTP/1.1\r\nHost: x\r\nX-A: b\x01c\r\n\r\n",
    "space_in_name": b"GET / HTTP/1.1\r\nHost: x\r\nX A: b\r\n\r\n",
    "space_before_colon": b"GET / HTTP/1.1\r\nHost: x\r\nX-A : b\r\n\r\n",
    "ctl_in_name": b"GET / HTTP/1.1\r\nHost: x\r\nX\x01A: b\r\n\r\n",
    "bad_chunk_size": b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    "chunk_size_overflow": b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"fffffffffffffffff1\r\n",
    "chunk_size_space": b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3 \r\n",
    "missing_host": b"GET / HTTP/1.1\r\n\r\n",
    "two_hosts": b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    "lf_only": b"GET / HTTP/1.1\nHost: x\n\n",
    "upgrade_with_body": b"POST / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
    b"Connection: upgrade\r\nContent-Length: 3\r\n\r\nabc",
}


@pytest.mark.parametrize("name", sorted(SMUGGLING))
def test_smuggling_vectors_are_400_and_close(name: str) -> None:
    assert error_status(SMUGGLING[name]) == 400


def test_version_and_method_errors() -> None:
    assert error_status(b"GET / HTTP/2.0\r\nHost: x\r\n\r\n") == 505
    assert error_status(b"CONNECT x:443 HTTP/1.1\r\nHost: x\r\n\r\n") == 405


def test_limits() -> None:
    assert error_status(b"GET /" + b"a" * 300 + b" HTTP/1.1\r\nHost: x\r\n\r\n") == 414
    many = b"".join(b"X-%d: v\r\n" % i for i in range(21))
    assert error_status(b"GET / HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n") == 431
    big = b"X: " + b"v" * 5000 + b"\r\n"
    assert error_status(b"GET / HTTP/1.1\r\nHost: x\r\n" + big + b"\r\n") == 431


def test_unterminated_field_is_bounded_across_feeds() -> None:
    p = parser()
    p.feed(b"GET / HTTP/1.1\r\nHost: x\r\nX: ")
    for _ in range(10):
        p.feed(b"v" * 1000)
    assert isinstance(p.events[-1], ProtocolError) and p.events[-1].status == 431


def test_nothing_after_an_error() -> None:
    p = parser()
    p.feed(b"GET / HTTP/1.1\r\n\r\n")
    p.feed(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    assert len(p.events) == 1


CORPUS = [
    b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST /p?q=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\nA: b\r\n\r\nhello world",
    b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5\r\nhello\r\na\r\n0123456789\r\n0\r\nT: 1\r\n\r\n",
    b"GET /x HTTP/1.0\r\nHost: y\r\nConnection: keep-alive\r\n\r\n",
    b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nraw",
    b"GET / HTTP/1.1\r\nHost: x\r\nX-A : b\r\n\r\n",
]


@settings(max_examples=300, deadline=None)
@given(
    msgs=st.lists(st.sampled_from(CORPUS), min_size=1, max_size=4),
    splits=st.lists(st.integers(min_value=0, max_value=400), max_size=12),
)
def test_split_invariance(msgs: list[bytes], splits: list[int]) -> None:
    data = b"".join(msgs)
    assert events(data, [s for s in splits if s <= len(data)]) == events(data)


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=300), splits=st.lists(st.integers(0, 300), max_size=6))
def test_arbitrary_bytes_only_protocol_errors(data: bytes, splits: list[int]) -> None:
    evs = events(b"GET / HTTP/1.1\r\nHost: x\r\n" + data, [s for s in splits if s <= len(data)])
    for ev in evs:
        assert ev is END or isinstance(ev, tuple | bytes)
