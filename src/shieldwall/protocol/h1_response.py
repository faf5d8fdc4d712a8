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

A parser serves exactly one response; a new one per response keeps "no reuse after a framing
error" trivially true. Any violation raises ``UpstreamProtocolError`` (502) and the upstream
connection must be discarded: CL together with TE, differing or invalid CL, any transfer coding
other than a single ``chunked``, invalid chunk sizes, a head over ``max_head_bytes``, a status
line that is not HTTP/1.0 or HTTP/1.1.
"""

from __future__ import annotations

from enum import Enum
from typing import Final

import httptools

from shieldwall.errors import UpstreamProtocolError

__all__ = ["Framing", "ResponseHead", "ResponseParser", "find_head_end"]

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


class ResponseHead:
    """A validated response head. ``raw`` is the head exactly as received."""

    __slots__ = (
        "connection_tokens",
        "content_length",
        "framing",
        "headers",
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
        self.headers: list[tuple[bytes, bytes]] = []
        self.content_length: int | None = None
        self.framing = Framing.UNTIL_CLOSE
        self.keep_alive = True
        self.upgrade = False  # 101 Switching Protocols
        self.connection_tokens: tuple[bytes, ...] = ()

    def header(self, name: bytes) -> bytes | None:
        for k, v in self.headers:
            if k == name:
                return v
        return None


class ResponseParser:
    """Parses one upstream response: ``parse_head`` once, then ``feed_body`` if CHUNKED."""

    __slots__ = (
        "_chunked",
        "_head",
        "_in_body",
        "_parser",
        "body",
        "done",
        "extra",
        "max_head_bytes",
    )

    def __init__(self, *, max_head_bytes: int = 64 * 1024) -> None:
        self.max_head_bytes = max_head_bytes
        self._parser = httptools.HttpResponseParser(self)
        self._head: ResponseHead | None = None
        self._chunked = False
        self._in_body = False
        self.body: list[bytes] = []  # de-chunked pieces since the caller last cleared it
        self.done = False  # the (chunked) message is complete
        self.extra = False  # bytes arrived after the end of the message: never reuse

    def parse_head(self, raw: bytes, *, request_method: bytes) -> ResponseHead:
        """Validate the complete head ``raw`` (ending in CRLFCRLF)."""
        if len(raw) > self.max_head_bytes:
            raise UpstreamProtocolError("response head too large")
        if not raw.startswith(b"HTTP/1."):
            raise UpstreamProtocolError("not an HTTP/1.x response")
        head = self._head = ResponseHead(raw)
        try:
            self._parser.feed_data(raw)
        except httptools.HttpParserUpgrade:
            pass  # 101: the rest of the stream is tunnel bytes
        except httptools.HttpParserCallbackError as exc:
            ctx = exc.__context__
            if isinstance(ctx, UpstreamProtocolError):
                raise ctx from None
            raise UpstreamProtocolError(f"invalid response head: {exc}") from None
        except httptools.HttpParserError as exc:
            raise UpstreamProtocolError(f"invalid response head: {exc}") from None
        if not self._in_body:
            raise UpstreamProtocolError("incomplete response head")
        status = head.status
        if status == 101:
            head.upgrade = True
            head.framing = Framing.NO_BODY
        elif request_method == b"HEAD" or status < 200 or status in (204, 304):
            head.framing = Framing.NO_BODY
            self.done = True
        elif self._chunked:
            head.framing = Framing.CHUNKED
        elif head.content_length is not None:
            head.framing = Framing.LENGTH if head.content_length else Framing.NO_BODY
        else:
            head.framing = Framing.UNTIL_CLOSE
            head.keep_alive = False
        return head

    def feed_body(self, data: bytes) -> int:
        """Feed chunked body bytes; returns how many bytes were consumed (less than
        ``len(data)`` only when the message ended inside ``data``: the rest is not ours)."""
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            raise UpstreamProtocolError(f"invalid chunked body: {exc}") from None
        return len(data)

    # -- llhttp callbacks ----------------------------------------------------------------
    def on_message_begin(self) -> None:
        if self.done:
            self.extra = True

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._in_body:
            if self.done:
                self.extra = True
            return  # trailer field: dropped
        head = self._head
        assert head is not None
        name = name.lower()
        head.headers.append((name, value))
        if name == b"content-length":
            head.content_length = int(value)  # llhttp checked digits and duplicates
        elif name == b"transfer-encoding":
            if self._chunked or value.strip().lower() != b"chunked":
                raise UpstreamProtocolError("unsupported Transfer-Encoding in response")
            self._chunked = True
        elif name == b"connection":
            head.connection_tokens += tuple(
                t.strip().lower() for t in value.split(b",") if t.strip()
            )

    def on_headers_complete(self) -> None:
        head = self._head
        assert head is not None
        p = self._parser
        version = p.get_http_version()
        if version not in ("1.1", "1.0"):
            raise UpstreamProtocolError("unsupported HTTP version in response")
        head.version = version.encode()
        head.status = p.get_status_code()
        head.keep_alive = p.should_keep_alive()
        self._in_body = True

    def on_body(self, body: bytes) -> None:
        if self.done:
            self.extra = True
        else:
            self.body.append(body)

    def on_message_complete(self) -> None:
        self.done = True
