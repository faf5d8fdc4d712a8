"""Sans-IO HTTP/1.1 request parser: client bytes in, events out (RFC 9112).

Theory of operation
-------------------
``RequestParser.feed(data)`` runs llhttp (via ``httptools.HttpRequestParser``, strict mode:
no leniency flags) over ``data`` and appends events to ``parser.events``:

- ``RequestHead``      a complete, validated request head (one per request);
- ``bytes``            a piece of the request body, already de-chunked;
- ``END``              the end of the request message (trailers were parsed and dropped);
- a ``ProtocolError``  the stream is broken: answer ``err.status``, then close. Nothing
                       follows an error and later ``feed`` calls are ignored.

Events are queued rather than delivered by callback so that pipelined requests parsed in one
``feed`` wait in order until the connection has answered the request before them; the
connection bounds the queue (``ServerLimits.max_pipelined``, ``read_buffer_bytes``) by pausing
reads. After a WebSocket upgrade request the parser stops parsing: every later byte (and the
rest of the chunk holding the head) is raw tunnel data, collected in ``tunnel_data``.

Strictness, on top of llhttp's strict mode (which already rejects CL+TE together, duplicate or
non-numeric Content-Length, obs-fold, bare CR/LF, NUL and other controls in values, invalid
header-name tokens, invalid chunk sizes):

- only HTTP/1.0 and HTTP/1.1 (505 otherwise); CONNECT is refused (405, a reverse proxy does
  not tunnel arbitrary TCP);
- Transfer-Encoding must be exactly one final ``chunked`` (no other codings, not in HTTP/1.0);
- exactly one Host (RFC 9112 section 3.2): none or several -> 400;
- an ``Upgrade`` other than a bodiless WebSocket GET is only accepted when it carries no body
  (llhttp would otherwise treat the body as upgraded bytes: a smuggling vector);
- limits: request target bytes (414), header field count and total head bytes (431). The head
  byte bound also holds for a single unterminated field: bytes fed while a head is incomplete
  are counted before llhttp buffers them.

Every error closes the connection (``close=True``): after a framing error the position of the
next request is unknowable.

Fast path (``parse_fast``): between requests, a chunk that is exactly one whole bodiless head
(the common GET) is validated by a second, callback-free llhttp parser and its few special
fields are found in one ``findall`` over the lower-cased bytes; no per-field Python call, and
the header list is built only when asked for. Anything unusual (a body, Upgrade, Expect, a
limit, a version or Host problem, any llhttp error, pipelined bytes) is declined and goes
through ``feed``, so every error has exactly one answer. A keep-alive connection that repeats
its previous head byte for byte gets the head llhttp accepted last time again (identical
bytes in the identical parser state: identical result). ``tests/protocol`` checks the fast
path against the general one with Hypothesis.
"""

from __future__ import annotations

import re
from collections import deque
from typing import Final

import httptools

from shieldwall.errors import BadRequest, HeaderTooLarge, ProtocolError, URITooLong
from shieldwall.protocol.h1_head import END, EndOfMessage, HeaderBlock, RequestHead, header_list

__all__ = [
    "END",
    "EndOfMessage",
    "HeaderBlock",
    "RequestEvent",
    "RequestHead",
    "RequestParser",
    "header_list",
]


RequestEvent = RequestHead | bytes | EndOfMessage | ProtocolError

# names whose values the parser needs; looked up once per field
_HOST, _CL, _TE, _CONN, _UPGRADE, _EXPECT = range(6)
_SPECIAL: Final = {
    b"host": _HOST,
    b"content-length": _CL,
    b"transfer-encoding": _TE,
    b"connection": _CONN,
    b"upgrade": _UPGRADE,
    b"expect": _EXPECT,
}
# fields the proxy treats specially, found by ``parse_fast`` in one pass over the lower-cased
# head (llhttp has refused whitespace before a colon and CR/LF inside values, so every
# "CRLF name:" is exactly the start of a field line)
_FAST_FIELDS: Final = re.compile(
    rb"\r\n(host|connection|content-length|transfer-encoding|upgrade|expect|keep-alive|"
    rb"proxy-connection|te|trailer|x-forwarded-for|x-forwarded-proto|x-forwarded-host|"
    rb"forwarded|via):"
)
_JUST_HOST: Final = [b"host"]
_FAST_REFUSED: Final = frozenset({b"content-length", b"transfer-encoding", b"upgrade", b"expect"})
_V11: Final = b" HTTP/1.1"
_V10: Final = b" HTTP/1.0"


class _Validator:
    """Callback-free llhttp target: the parser validates, we read its results."""

    __slots__ = ()


_VALIDATOR: Final = _Validator()
_new_head = object.__new__  # every slot is set by parse_fast itself
_FIELD_OVERHEAD: Final = 4  # ": " and CRLF per field, counted against max_header_bytes


class RequestParser:
    """One per client connection. See the module docstring."""

    __slots__ = (
        "_count",
        "_head",
        "_head_bytes",
        "_head_fed",
        "_in_body",
        "_last",
        "_parser",
        "_url",
        "_validator",
        "events",
        "failed",
        "in_head",
        "max_header_bytes",
        "max_header_count",
        "max_uri_bytes",
        "tunnel_data",
        "upgraded",
    )

    def __init__(self, *, max_header_bytes: int, max_header_count: int, max_uri_bytes: int) -> None:
        self.max_header_bytes = max_header_bytes
        self.max_header_count = max_header_count
        self.max_uri_bytes = max_uri_bytes
        self.events: deque[RequestEvent] = deque()
        self.in_head = False  # a request head has started and is not complete yet
        self.failed = False
        self.upgraded = False
        self.tunnel_data = bytearray()
        self._parser = httptools.HttpRequestParser(self)
        self._head = RequestHead()
        self._url: list[bytes] = []
        self._head_bytes = 0
        self._head_fed = 0
        self._count = 0
        self._in_body = False
        self._validator: httptools.HttpRequestParser | None = None
        self._last: RequestHead | None = None  # the previous fast-path head (keep-alive)

    # -- fast path ---------------------------------------------------------------------
    def parse_fast(self, data: bytes) -> RequestHead | None:
        """``data`` is exactly one complete request head with no body: return its head with
        no per-field Python work, or None (nothing consumed) and ``feed`` must handle it.

        Taken only between requests. Anything unusual (a body, Upgrade, Expect, a limit near,
        a version or Host problem, an llhttp error) returns None, so the general path gives
        the one answer for it. llhttp still validates every byte (strict mode).
        """
        if self.in_head or self.events or self.failed or self.upgraded:
            return None
        last = self._last
        if last is not None and data == last.raw:
            # the very bytes llhttp accepted last time, in the same state: the same head. The
            # previous request is over (the fast path runs between requests) and nothing edits
            # a head (nor its block's header list)
            return last
        n = len(data)
        if n > self.max_header_bytes or data.find(b"\r\n\r\n") != n - 4:
            return None
        line_end = data.find(b"\r\n")
        tail = data[line_end - 9 : line_end]
        if tail == _V11:
            version = b"1.1"
        elif tail == _V10:
            version = b"1.0"
        else:
            return None
        if data.count(b"\r\n") - 2 > self.max_header_count:
            return None
        low = data.lower()
        fields = _FAST_FIELDS.findall(low, line_end)
        tokens: tuple[bytes, ...] = ()
        if fields != _JUST_HOST:
            if fields.count(b"host") != 1 or not _FAST_REFUSED.isdisjoint(fields):
                return None
            if b"connection" in fields:
                i = low.find(b"\r\nconnection:", line_end)
                while i >= 0:
                    j = low.find(b"\r\n", i + 2)
                    tokens += tuple(t.strip() for t in low[i + 13 : j].split(b",") if t.strip())
                    i = low.find(b"\r\nconnection:", j)
        i = low.find(b"\r\nhost:", line_end) + 7
        host = data[i : low.find(b"\r\n", i)].strip(b" \t")
        v = self._validator
        if v is None:
            v = self._validator = httptools.HttpRequestParser(_VALIDATOR)
        try:
            v.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade):
            self._validator = None  # its state is unknown now
            return None
        method = v.get_method()
        target = data[len(method) + 1 : line_end - 9]
        if method == b"CONNECT" or len(target) > self.max_uri_bytes or b" " in target:
            self._validator = None
            return None
        # llhttp's own keep-alive answer is reset once the message is complete: compute it
        if version == b"1.1":
            keep_alive = b"close" not in tokens
        else:
            keep_alive = b"keep-alive" in tokens and b"close" not in tokens
        if not keep_alive:
            self._validator = None  # llhttp refuses any byte after a closing message
        head = _new_head(RequestHead)
        head.method = method
        head.target = target
        head.version = version
        # the previous head's field lines again (a new request line): its block, whose header
        # list and derived facts hold for this head too (``HeaderBlock``)
        block = last.block if last is not None else None
        if block is None or len(block.tail) != n - line_end or not data.endswith(block.tail):
            block = HeaderBlock(data[line_end:])
        head.block = block
        head.host = host
        head.content_length = None
        head.chunked = False
        head.keep_alive = keep_alive
        head.upgrade = None
        head.expect_continue = False
        head.connection_tokens = tokens
        head.raw = data
        head.line_end = line_end
        head.fields = fields
        self._last = head if keep_alive else None
        return head

    # -- input -------------------------------------------------------------------------
    def feed(self, data: bytes) -> None:
        self._last = None
        if self.failed:
            return
        if self.upgraded:
            self.tunnel_data += data
            return
        if self.in_head:
            self._head_fed += len(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            self._after_upgrade(data, exc.args[0])
            return
        except httptools.HttpParserCallbackError as exc:
            ctx = exc.__context__
            self._fail(ctx if isinstance(ctx, ProtocolError) else BadRequest(str(exc)))
            return
        except httptools.HttpParserError as exc:
            self._fail(BadRequest(f"invalid request: {exc}"))
            return
        if self.in_head and self._head_fed > self.max_header_bytes:
            self._fail(HeaderTooLarge("request head too large"))

    def _after_upgrade(self, data: bytes, offset: int) -> None:
        rest = data[offset:]
        if self._head.upgrade is not None:
            self.upgraded = True
            self.tunnel_data += rest
        elif rest:
            # a non-WebSocket Upgrade on a bodiless request: ignore it, keep parsing
            self.feed(rest)

    def _fail(self, err: ProtocolError) -> None:
        self.failed = True
        self.in_head = False
        self.events.append(err)

    # -- llhttp callbacks ----------------------------------------------------------------
    def on_message_begin(self) -> None:
        self.in_head = True
        self._head = RequestHead()
        self._url = []
        self._head_bytes = 0
        self._head_fed = 0
        self._count = 0
        self._in_body = False

    def on_url(self, url: bytes) -> None:
        self._url.append(url)
        self._head_bytes += len(url)
        if self._head_bytes > self.max_uri_bytes:
            raise URITooLong("request target too long")

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count += 1
        self._head_bytes += len(name) + len(value) + _FIELD_OVERHEAD
        if self._count > self.max_header_count:
            raise HeaderTooLarge("too many header fields")
        if self._head_bytes > self.max_header_bytes:
            raise HeaderTooLarge("request head too large")
        if self._in_body:
            return  # a trailer field: counted, then dropped (never forwarded)
        name = name.lower()
        value = value.rstrip(b" \t")  # llhttp drops leading OWS only (RFC 9110 5.5: both)
        headers = self._head.block._list
        assert headers is not None
        headers.append((name, value))
        kind = _SPECIAL.get(name)
        if kind is None:
            return
        head = self._head
        if kind == _HOST:
            if head.host is not None:
                raise BadRequest("multiple Host fields")
            head.host = value
        elif kind == _CL:
            head.content_length = int(value)  # llhttp checked digits and duplicates
        elif kind == _TE:
            if head.chunked or value.strip().lower() != b"chunked":
                raise BadRequest("unsupported Transfer-Encoding")
            head.chunked = True
        elif kind == _CONN:
            head.connection_tokens += tuple(
                t.strip().lower() for t in value.split(b",") if t.strip()
            )
        elif kind == _UPGRADE:
            head.upgrade = value.strip().lower()
        elif kind == _EXPECT:
            head.expect_continue = value.strip().lower() == b"100-continue"

    def on_headers_complete(self) -> None:
        p = self._parser
        head = self._head
        version = p.get_http_version()
        if version == "1.1":
            head.version = b"1.1"
        elif version == "1.0":
            head.version = b"1.0"
            if head.chunked:
                raise BadRequest("Transfer-Encoding in an HTTP/1.0 request")
        else:
            raise ProtocolError("HTTP version not supported", status=505)
        head.method = p.get_method()
        if head.method == b"CONNECT":
            raise ProtocolError("CONNECT is not supported", status=405)
        head.target = self._url[0] if len(self._url) == 1 else b"".join(self._url)
        if head.host is None:
            raise BadRequest("missing Host")
        # RFC 9112 9.3: "close" ends the connection even next to "keep-alive" (llhttp lets an
        # HTTP/1.0 keep-alive token win)
        head.keep_alive = p.should_keep_alive() and b"close" not in head.connection_tokens
        if p.should_upgrade():
            websocket = head.upgrade == b"websocket" and head.method == b"GET"
            if head.has_body:
                raise BadRequest("Upgrade with a request body")
            if not websocket:
                head.upgrade = None
        else:
            head.upgrade = None
        self.in_head = False
        self._in_body = True
        self.events.append(head)

    def on_body(self, body: bytes) -> None:
        self.events.append(body)

    def on_message_complete(self) -> None:
        self.events.append(END)
        self._in_body = False
