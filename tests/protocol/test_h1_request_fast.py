"""``RequestParser.parse_fast`` against the general callback path as the oracle.

Whatever the fast path accepts, the general path must accept too, with the same head; anything
it declines must leave the parser untouched for ``feed``.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from shieldwall.protocol.h1 import END, RequestHead, RequestParser


def parser() -> RequestParser:
    return RequestParser(max_header_bytes=4096, max_header_count=20, max_uri_bytes=256)


def slow(data: bytes) -> list[object]:
    p = parser()
    p.feed(data)
    return list(p.events)


def same(a: RequestHead, b: RequestHead) -> None:
    assert (a.method, a.target, a.version, a.host) == (b.method, b.target, b.version, b.host)
    assert a.headers == b.headers
    assert (a.keep_alive, a.connection_tokens) == (b.keep_alive, b.connection_tokens)
    assert (a.content_length, a.chunked, a.upgrade, a.expect_continue) == (None, False, None, False)


NAMES = st.sampled_from(
    [
        b"host",
        b"HOST",
        b"X-A",
        b"User-Agent",
        b"Connection",
        b"Keep-Alive",
        b"TE",
        b"Via",
        b"X-Forwarded-For",
        b"Cookie",
        b"X_Under",
        b"Accept",
        b"x-a",
        b"Forwarded",
        b"Trailer",
        b"X-A",
        b"Cookie",
        b"Content-Length",
        b"Upgrade",
        b"Transfer-Encoding",
        b"Expect",
        b"X Bad",
        b"x:y",
    ]
)
VALUES = st.sampled_from(
    [
        b"a",
        b" a",
        b"a ",
        b"\ta\t",
        b"example.com",
        b"close",
        b"keep-alive",
        b"Keep-Alive, Close",
        b"x, y",
        b"",
        b"1",
        b"chunked",
        b"caf\xc3\xa9",
        b"100-continue",
        b"a:b",
        b"a\rb",
    ]
)


def mostly(good: list[bytes], bad: list[bytes]) -> st.SearchStrategy[bytes]:
    """Valid choices most of the time, so that the fast path accepts a good share."""
    return st.one_of(st.sampled_from(good), st.sampled_from(good), st.sampled_from(bad))


METHODS = mostly([b"GET", b"HEAD", b"DELETE", b"OPTIONS"], [b"CONNECT", b"get", b"G T", b"POST"])
TARGETS = mostly([b"/", b"/a?b=1", b"*", b"http://h/p"], [b"/ x", b"", b"/" + b"a" * 300])
VERSIONS = mostly([b"HTTP/1.1", b"HTTP/1.0"], [b"HTTP/2.0", b"HTTP/0.9", b"http/1.1"])


@st.composite
def heads(draw: st.DrawFn) -> bytes:
    line = draw(METHODS) + b" " + draw(TARGETS) + b" " + draw(VERSIONS)
    fields = draw(st.lists(st.tuples(NAMES, VALUES), max_size=8))
    if draw(st.booleans()):
        fields.insert(draw(st.integers(0, len(fields))), (b"Host", b"example.com"))
    body = b"".join(n + b":" + v + b"\r\n" for n, v in fields)
    tail = draw(mostly([b"\r\n"], [b"\r\nGET / HTTP/1.1\r\n", b"\r\nxyz"]))
    return line + b"\r\n" + body + tail


@settings(max_examples=1000, deadline=None)
@given(heads())
def test_fast_path_agrees_with_general_path(data: bytes) -> None:
    p = parser()
    head = p.parse_fast(data)
    if head is None:
        p.feed(data)  # declined: the general path still sees a parser that consumed nothing
        assert [type(e) for e in p.events] == [type(e) for e in slow(data)]
        return
    evs = slow(data)
    assert len(evs) == 2 and evs[1] is END, evs
    assert isinstance(evs[0], RequestHead)
    same(head, evs[0])


def test_keep_alive_sequence_reuses_validator_and_close_ends_it() -> None:
    p = parser()
    for i in range(3):
        h = p.parse_fast(b"GET /%d HTTP/1.1\r\nHost: x\r\n\r\n" % i)
        assert h is not None and h.target == b"/%d" % i and h.keep_alive
    h = p.parse_fast(b"GET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert h is not None and not h.keep_alive
    h = p.parse_fast(b"GET /d HTTP/1.0\r\nHost: x\r\nConnection: Keep-Alive\r\n\r\n")
    assert h is not None and h.keep_alive and h.version == b"1.0"


def test_declines_what_needs_the_general_path() -> None:
    p = parser()
    for data in [
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\na",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",  # pipelined
        b"GET / HTTP/1.1\r\nHost: x\r\n",  # incomplete
        b"GET / HTTP/1.1\r\n\r\n",  # no Host
        b"GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
        b"CONNECT h:443 HTTP/1.1\r\nHost: h\r\n\r\n",
        b"GET / HTTP/2.0\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX : y\r\n\r\n",
    ]:
        assert p.parse_fast(data) is None, data
    assert p.parse_fast(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n") is not None  # still usable


def test_fields_name_special_lines_in_order() -> None:
    data = b"GET / HTTP/1.1\r\nHost: x\r\nVia: a\r\nX-A: b\r\nTE: trailers\r\n\r\n"
    h = parser().parse_fast(data)
    assert h is not None and h.fields == [b"host", b"via", b"te"]


def test_repeated_head_is_reused_with_its_header_list() -> None:
    p = parser()
    data = b"GET /r HTTP/1.1\r\nHost: x\r\nX-A: b\r\n\r\n"
    a = p.parse_fast(data)
    assert a is not None
    first = a.headers
    b = p.parse_fast(bytes(bytearray(data)))
    assert b is a  # the same validated head, handed out again, its list with it
    assert (b.method, b.target, b.host, b.keep_alive) == (b"GET", b"/r", b"x", True)
    assert b.headers_parsed and b.headers is first


def test_same_field_lines_share_one_block() -> None:
    p = parser()
    a = p.parse_fast(b"GET /a HTTP/1.1\r\nHost: x\r\nX-A: b\r\n\r\n")
    assert a is not None and not a.headers_parsed
    a.block.keep("owner", 1)
    lines = a.headers
    b = p.parse_fast(b"GET /longer?q=1 HTTP/1.1\r\nHost: x\r\nX-A: b\r\n\r\n")
    assert b is not None and b is not a and b.target == b"/longer?q=1"
    assert b.block is a.block and b.headers is lines  # built once for both
    assert b.block.derived("owner") == 1 and b.block.derived("other") is None
    # field lines that differ: in a value, in a line more, in a line more before the same end
    for data in (
        b"GET /a HTTP/1.1\r\nHost: x\r\nX-A: c\r\n\r\n",
        b"GET /a HTTP/1.1\r\nHost: x\r\nX-B: x\r\nX-A: c\r\n\r\n",
        b"GET /a HTTP/1.1\r\nX-Z: 1\r\nHost: x\r\nX-B: x\r\nX-A: c\r\n\r\n",  # ends alike
    ):
        prev = p._last
        assert prev is not None
        c = p.parse_fast(data)
        assert c is not None, data
        assert c.block is not prev.block and c.block.derived("owner") is None
        assert c.headers == list(_fields(data))


def _fields(data: bytes) -> list[tuple[bytes, bytes]]:
    out = []
    for line in data.split(b"\r\n")[1:-2]:
        k, _, v = line.partition(b":")
        out.append((k.lower(), v.strip()))
    return out


def test_a_block_forgets_old_owners_when_full() -> None:
    from shieldwall.protocol.h1_head import MAX_DERIVED, HeaderBlock

    block = HeaderBlock(b"\r\nHost: x\r\n\r\n")
    for i in range(MAX_DERIVED):
        block.keep(i, i)
    block.keep(0, "again")  # a known owner: kept in place
    assert block.derived(0) == "again" and block.derived(MAX_DERIVED - 1) == MAX_DERIVED - 1
    block.keep("new", 1)
    assert block.derived("new") == 1 and block.derived(1) is None
    assert block.headers == [(b"host", b"x")]


def test_no_repeat_across_general_path_or_closing_heads() -> None:
    p = parser()
    closing = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    assert p.parse_fast(closing) is not None
    assert p._last is None  # a closing head is never repeated from memory
    data = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    p = parser()
    assert p.parse_fast(data) is not None and p._last is not None
    p.feed(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
    assert p._last is None
