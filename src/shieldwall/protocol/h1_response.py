"""Sans-IO HTTP/1.1 response parsing for the upstream side (RFC 9112 section 6).

Theory of operation
-------------------
The upstream connection accumulates origin bytes until ``find_head_end`` sees the blank line
that ends the head (llhttp runs in strict mode, so every line ends in CRLF and the first CRLFCRLF
is the end of the head). ``ResponseParser.parse_head(head_bytes)`` then validates it with llhttp
(``httptools.HttpResponseParser``) plus our own rules and returns a ``ResponseHead`` whose
``framing`` says how the body is delimited:

- ``NO_BODY``     HEAD request, 1xx, 204, 304, or ``Content-Length: 0``;
- ``LENGTH``      ``Content-Length: n``: the connection relays exactly ``n`` raw bytes without
                  parsing them (the cheapest path);
- ``CHUNKED``     ``Transfer-Encoding: chunked``: later bytes go through ``feed_body``, which
                  de-chunks them into ``body`` pieces and drops trailers;
- ``UNTIL_CLOSE`` neither: the body ends when the origin closes (never reusable).

Speed: llhttp validates the head with no Python callback at all (strict syntax, CL+TE, duplicate
CL, obs-fold, status line); the fields we need (Content-Length, Transfer-Encoding, Connection and
the other hop-by-hop lines, with their byte offsets for ``ResponseHead.splice``) are found in one
case-insensitive regex pass, which is exact because llhttp has already refused whitespace before
a colon and CR/LF inside values. ``ResponseHeadCache`` memoises the whole result by the head's
bytes (origins repeat heads byte for byte; only Date moves, once a second), so a hot object's
head is parsed and cut once. Chunked bodies go through a second llhttp parser (with callbacks),
primed with a synthetic chunked head, only when the response is chunked.

A parser serves exactly one response; a new one per response keeps "no reuse after a framing
error" trivially true. Any violation raises ``UpstreamProtocolError`` (502) and the upstream
connection must be discarded: CL together with TE, differing or invalid CL, any transfer coding
other than a single ``chunked``, invalid chunk sizes, a head over ``max_head_bytes``, a status
line that is not HTTP/1.0 or HTTP/1.1.
"""

from __future__ import annotations

import re
from enum import Enum
from typing import Final

import httptools

from shieldwall.errors import UpstreamProtocolError

__all__ = [
    "F_CHUNKED",
    "F_LENGTH",
    "F_NO_BODY",
    "F_UNTIL_CLOSE",
    "HOP_BY_HOP_RESPONSE",
    "Framing",
    "ResponseHead",
    "ResponseHeadCache",
    "ResponseParser",
    "find_head_end",
    "parse_response_head",
]

_CRLFCRLF: Final = b"\r\n\r\n"


def find_head_end(buf: bytes | bytearray, start: int = 0) -> int:
    """Index just past the CRLFCRLF ending a head in ``buf`` (searching from ``start``), or -1.

    Pass ``start = previous_length - 3`` when more bytes arrived, so a blank line split across
    reads is still found and nothing is scanned twice.
    """
    i = buf.find(_CRLFCRLF, max(start, 0))
    return -1 if i < 0 else i + 4


class Framing(Enum):
    NO_BODY = "no-body"
    LENGTH = "length"
    CHUNKED = "chunked"
    UNTIL_CLOSE = "until-close"


# The members as module names for the data path: on CPython 3.11 reading ``Framing.LENGTH``
# goes through the enum's member descriptor (~50 ns), a module global is a dict read (~5 ns).
F_NO_BODY: Final = Framing.NO_BODY
F_LENGTH: Final = Framing.LENGTH
F_CHUNKED: Final = Framing.CHUNKED
F_UNTIL_CLOSE: Final = Framing.UNTIL_CLOSE


class ResponseHead:
    """A validated response head. ``raw`` is the head exactly as received.

    ``cuts`` lists the ``(start, end)`` byte offsets of the hop-by-hop lines (each from its
    leading CRLF to just before the next CRLF), sorted, for ``splice``; None when there are none.
    """

    __slots__ = (
        "_base",
        "connection_tokens",
        "content_length",
        "cuts",
        "framing",
        "keep_alive",
        "raw",
        "status",
        "upgrade",
        "version",
    )

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self.status = 0
        self.version = b"1.1"
        self.content_length: int | None = None
        self.framing = Framing.UNTIL_CLOSE
        self.keep_alive = True
        self.upgrade = False  # 101 Switching Protocols
        self.connection_tokens: tuple[bytes, ...] = ()
        self.cuts: list[tuple[int, int]] | None = None
        self._base: bytes | None = None

    @property
    def low(self) -> bytes:
        return self.raw.lower()

    def values(self, name: bytes) -> list[bytes]:
        """Every value of field ``name`` (lower-case), in order, stripped."""
        low = self.raw.lower()
        key = b"\r\n" + name + b":"
        out = []
        i = low.find(key)
        while i >= 0:
            start = i + len(key)
            end = low.find(b"\r\n", start)
            out.append(self.raw[start:end].strip(b" \t"))
            i = low.find(key, end)
        return out

    def header(self, name: bytes) -> bytes | None:
        v = self.values(name)
        return v[0] if v else None

    def splice(self, extra: bytes, body: bytes | memoryview = b"") -> bytes:
        """The head to send on: HTTP/1.1 status line, hop-by-hop lines cut, ``extra`` (lines
        ending in CRLF) added before the blank line; then ``body`` (one copy for both)."""
        base = self._base
        if base is None:
            base = self._base = self._cut()
        return b"".join((base, extra, b"\r\n", body))

    def _cut(self) -> bytes:
        """``raw`` without its blank line and hop-by-hop lines, with an HTTP/1.1 status line
        (computed once per head: a cached head is spliced for every response sharing it)."""
        raw = self.raw
        cuts = self.cuts
        if cuts is None:
            return raw[:-2] if self.version == b"1.1" else b"HTTP/1.1" + raw[8:-2]
        parts = [b"HTTP/1.1"]
        pos = 8
        for i, j in cuts:
            if i < pos:
                continue  # the same line named twice (a token repeating a fixed name)
            parts.append(raw[pos:i])
            pos = j
        parts.append(raw[pos:-2])
        return b"".join(parts)


class _Validator:
    """Callback-free llhttp target: the parser validates, we read its results."""

    __slots__ = ()


_VALIDATOR: Final = _Validator()
_CHUNKED_HEAD: Final = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
# every field the relay must look at, found in one pass over the lower-cased head
# (the span of a match is the line from its leading CRLF to just before the next CRLF)
_FIELDS: Final = re.compile(
    rb"\r\n(connection|keep-alive|proxy-connection|te|trailer|upgrade|"
    rb"content-length|transfer-encoding):[ \t]*([^\r]*)",
    re.IGNORECASE,
)
_new_head = object.__new__
_CL: Final = b"content-length"
_TE: Final = b"transfer-encoding"
_CONNECTION: Final = b"connection"
HOP_BY_HOP_RESPONSE: Final = frozenset(
    {b"connection", b"keep-alive", b"proxy-connection", b"te", b"trailer", b"upgrade"}
)
_NO_BODY_STATUS: Final = frozenset({204, 304})


def _field_cuts(low: bytes, name: bytes) -> list[tuple[int, int]]:
    key = b"\r\n" + name + b":"
    out = []
    i = low.find(key)
    while i >= 0:
        j = low.find(b"\r\n", i + 2)
        out.append((i, j))
        i = low.find(key, j)
    return out


def parse_response_head(raw: bytes, request_method: bytes, max_head_bytes: int) -> ResponseHead:
    """Validate the complete head ``raw`` (ending in CRLFCRLF) of the response to a
    ``request_method`` request. Raises ``UpstreamProtocolError``."""
    if len(raw) > max_head_bytes:
        raise UpstreamProtocolError("response head too large")
    version = raw[5:8]
    if raw[:5] != b"HTTP/" or (version != b"1.1" and version != b"1.0"):
        raise UpstreamProtocolError("not an HTTP/1.0 or HTTP/1.1 response")
    p = httptools.HttpResponseParser(_VALIDATOR)
    try:
        p.feed_data(raw)
    except httptools.HttpParserUpgrade:
        pass  # 101: the rest of the stream is tunnel bytes
    except httptools.HttpParserError as exc:
        raise UpstreamProtocolError(f"invalid response head: {exc}") from None
    status = p.get_status_code()
    if status == 0:
        raise UpstreamProtocolError("incomplete response head")
    keep_alive = p.should_keep_alive()
    head = _new_head(ResponseHead)
    head.raw = raw
    head.version = version
    head.status = status
    head.content_length = None
    head.upgrade = False
    head.connection_tokens = ()
    head._base = None
    cl: bytes | None = None
    te: list[bytes] | None = None
    cuts: list[tuple[int, int]] | None = None
    low: bytes | None = None
    for m in _FIELDS.finditer(raw):
        name = m.group(1).lower()
        if name == _CL:
            cl = m.group(2)  # llhttp refused a second, differing or non-numeric one
        elif name == _TE:
            if te is None:
                te = []
            te.append(m.group(2).strip(b" \t").lower())
        else:
            if cuts is None:
                cuts = []
            cuts.append(m.span())
            if name == _CONNECTION:
                value = m.group(2).lower()
                if b"," in value:
                    head.connection_tokens += tuple(
                        t.strip(b" \t") for t in value.split(b",") if t.strip(b" \t")
                    )
                else:
                    head.connection_tokens += (value.strip(b" \t"),)
    if head.connection_tokens:
        assert cuts is not None
        extra_cuts = False
        for t in head.connection_tokens:
            if t not in HOP_BY_HOP_RESPONSE and t != _CL and t != _TE and t != b"close":
                if low is None:
                    low = raw.lower()
                more = _field_cuts(low, t)
                if more:
                    cuts += more
                    extra_cuts = True
        if extra_cuts:
            cuts.sort()
    head.cuts = cuts
    if te is not None:
        if len(te) != 1 or te[0] != b"chunked":
            raise UpstreamProtocolError("unsupported Transfer-Encoding in response")
        if cl is not None:
            raise UpstreamProtocolError("Content-Length with Transfer-Encoding")
    if cl is not None:
        head.content_length = int(cl)  # llhttp: digits only
    if status == 101:
        head.upgrade = True
        head.framing = Framing.NO_BODY
    elif request_method == b"HEAD" or status < 200 or status in _NO_BODY_STATUS:
        head.framing = Framing.NO_BODY
    elif te is not None:
        head.framing = Framing.CHUNKED
    elif head.content_length is not None:
        head.framing = Framing.LENGTH if head.content_length else Framing.NO_BODY
    else:
        head.framing = Framing.UNTIL_CLOSE
        keep_alive = False
    head.keep_alive = keep_alive
    return head


class ResponseHeadCache:
    """``parse_response_head`` memoised by the exact head bytes.

    An origin repeats its heads byte for byte (only ``Date`` moves, once a second), so a hot
    object's head is validated once and shared: identical bytes give the identical, immutable
    result. Bounded: at most ``max_entries`` heads of at most ``max_head`` bytes, oldest first
    out; responses to HEAD requests (a different framing for the same bytes) and errors are
    never stored. ``last`` is the entry most recently stored or found, so a reader can test
    whether new bytes start with it (one ``memcmp``) before searching them for the end of the
    head, copying it out and hashing it.
    """

    __slots__ = ("heads", "hits", "last", "max_entries", "max_head")

    def __init__(self, *, max_entries: int = 256, max_head: int = 2048) -> None:
        self.max_entries = max_entries
        self.max_head = max_head
        self.heads: dict[bytes, ResponseHead] = {}  # read it, never write it
        self.hits = 0
        self.last: tuple[bytes, ResponseHead | None] = (b"", None)

    def parse(self, raw: bytes, request_method: bytes, max_head_bytes: int) -> ResponseHead:
        if len(raw) > self.max_head or request_method == b"HEAD":
            return parse_response_head(raw, request_method, max_head_bytes)
        heads = self.heads
        head = heads.get(raw)
        if head is not None:
            self.hits += 1
            self.last = (raw, head)
            return head
        head = parse_response_head(raw, request_method, max_head_bytes)
        if len(heads) >= self.max_entries:
            del heads[next(iter(heads))]
        heads[raw] = head
        self.last = (raw, head)
        return head

    def __len__(self) -> int:
        return len(self.heads)


class ResponseParser:
    """Parses one upstream response: ``parse_head`` once, then ``feed_body`` if CHUNKED."""

    __slots__ = ("_body_parser", "_in_trailers", "body", "done", "extra", "max_head_bytes")

    def __init__(self, *, max_head_bytes: int = 64 * 1024) -> None:
        self.max_head_bytes = max_head_bytes
        self._body_parser: httptools.HttpResponseParser | None = None
        self._in_trailers = False
        self.body: list[bytes] = []  # de-chunked pieces since the caller last cleared it
        self.done = False  # the (chunked) message is complete
        self.extra = False  # bytes arrived after the end of the message: never reuse

    def parse_head(self, raw: bytes, *, request_method: bytes) -> ResponseHead:
        """Validate the complete head ``raw`` (ending in CRLFCRLF)."""
        head = parse_response_head(raw, request_method, self.max_head_bytes)
        if head.framing is Framing.NO_BODY and not head.upgrade:
            self.done = True
        return head

    def prime_chunked(self) -> None:
        """Prepare ``feed_body`` for a chunked body whose head was parsed elsewhere."""
        if self._body_parser is None:
            self._body_parser = httptools.HttpResponseParser(self)
            self._body_parser.feed_data(_CHUNKED_HEAD)

    def feed_body(self, data: bytes) -> int:
        """Feed chunked body bytes; returns how many bytes were consumed (less than
        ``len(data)`` only when the message ended inside ``data``: the rest is not ours)."""
        p = self._body_parser
        if p is None:
            p = self._body_parser = httptools.HttpResponseParser(self)
            p.feed_data(_CHUNKED_HEAD)
        try:
            p.feed_data(data)
        except httptools.HttpParserError as exc:
            if self.done:  # garbage after a complete message: ours is fine, the rest is not
                self.extra = True
                return len(data)
            raise UpstreamProtocolError(f"invalid chunked body: {exc}") from None
        return len(data)

    # -- llhttp callbacks (chunked body parser only) ---------------------------------------
    def on_message_begin(self) -> None:
        if self.done:
            self.extra = True

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.done:
            self.extra = True

    def on_body(self, body: bytes) -> None:
        if self.done:
            self.extra = True
        else:
            self.body.append(body)

    def on_message_complete(self) -> None:
        self.done = True
