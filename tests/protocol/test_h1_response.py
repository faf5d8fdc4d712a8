"""Upstream response head parser: framing decisions and strictness."""

from __future__ import annotations

import pytest

from shieldwall.errors import UpstreamProtocolError
from shieldwall.protocol.h1 import Framing, ResponseParser, find_head_end


def parse(raw: bytes, method: bytes = b"GET") -> Framing:
    return ResponseParser().parse_head(raw, request_method=method).framing


def test_framings() -> None:
    assert parse(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n") is Framing.LENGTH
    assert parse(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n") is Framing.NO_BODY
    assert parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n") is Framing.CHUNKED
    assert parse(b"HTTP/1.1 200 OK\r\n\r\n") is Framing.UNTIL_CLOSE
    assert parse(b"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n") is Framing.NO_BODY
    assert parse(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", b"HEAD") is Framing.NO_BODY


@pytest.mark.parametrize(
    "raw",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n",
        b"HTTP/2 200 OK\r\n\r\n",
        b"garbage\r\n\r\n",
    ],
)
def test_invalid_heads(raw: bytes) -> None:
    with pytest.raises(UpstreamProtocolError):
        parse(raw)


def test_chunked_body_decoding_and_extra_bytes() -> None:
    p = ResponseParser()
    p.parse_head(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", request_method=b"GET")
    p.feed_body(b"3\r\nabc\r\n0\r\nT: 1\r\n\r\n")
    assert p.body == [b"abc"] and p.done and not p.extra
    p.feed_body(b"HTTP/1.1 200 OK\r\n")
    assert p.extra


def test_find_head_end_across_reads() -> None:
    buf = bytearray(b"HTTP/1.1 200 OK\r\n\r")
    assert find_head_end(buf) == -1
    old = len(buf)
    buf += b"\nbody"
    assert find_head_end(buf, old - 3) == len(b"HTTP/1.1 200 OK\r\n\r\n")


def test_head_cache_shares_identical_heads_and_stays_bounded() -> None:
    from shieldwall.protocol.h1 import ResponseHeadCache

    cache = ResponseHeadCache(max_entries=2)
    raw = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\n\r\n"
    a = cache.parse(raw, b"GET", 65536)
    assert cache.parse(bytes(bytearray(raw)), b"GET", 65536) is a and cache.hits == 1
    assert a.framing is Framing.LENGTH and a.cuts is not None
    head = cache.parse(raw, b"HEAD", 65536)  # same bytes, other framing: never shared
    assert head.framing is Framing.NO_BODY and head is not a
    for i in range(3):
        cache.parse(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (i + 1), b"GET", 65536)
    assert len(cache) == 2
    assert cache.parse(raw, b"GET", 65536) is not a  # evicted, parsed again
    bad = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
    for _ in range(2):
        with pytest.raises(UpstreamProtocolError):
            cache.parse(bad, b"GET", 65536)


def test_head_cache_last_is_the_latest_stored_or_found_head() -> None:
    from shieldwall.protocol.h1 import ResponseHeadCache

    cache = ResponseHeadCache()
    assert cache.last[1] is None
    raw = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"
    other = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
    a = cache.parse(raw, b"GET", 65536)
    assert cache.last == (raw, a)
    b = cache.parse(other, b"GET", 65536)
    assert cache.last == (other, b)
    assert cache.parse(raw, b"GET", 65536) is a and cache.last == (raw, a)  # a hit
    cache.parse(other, b"HEAD", 65536)  # never stored, so never the last either
    assert cache.last == (raw, a)
