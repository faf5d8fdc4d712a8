"""Request heads and end-of-message events of the HTTP/1.1 request parser (``h1_request``).

``RequestHead`` is one validated request head. A head from the general (callback) path carries
its ``headers`` list; a head from the fast path carries the head bytes (``raw``) instead and
builds the list only on first use (``header_list``), since most requests on a zone without
filters never need it. The parser hands the same head object out again for a byte-identical
repeat on the same connection (with its list unbuilt): nothing edits a head after parsing.
"""

from __future__ import annotations

from typing import Final

__all__ = ["END", "EndOfMessage", "RequestHead", "header_list"]


class EndOfMessage:
    """The end of one request message. Use the ``END`` singleton."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "END"


END: Final = EndOfMessage()


class RequestHead:
    """A validated request head. Header names are lower-cased; values are raw bytes.

    A head from ``parse_fast`` keeps the head bytes (``raw``, ending in CRLFCRLF) and the
    names of the fields present that the proxy treats specially (``fields``); its ``headers``
    list is built from ``raw`` only when something asks for it.
    """

    __slots__ = (
        "_headers",
        "chunked",
        "connection_tokens",
        "content_length",
        "expect_continue",
        "fields",
        "host",
        "keep_alive",
        "line_end",
        "method",
        "raw",
        "target",
        "upgrade",
        "version",
    )

    def __init__(self) -> None:
        self.method: bytes = b""
        self.target: bytes = b""
        self.version: bytes = b"1.1"
        self._headers: list[tuple[bytes, bytes]] | None = []
        self.host: bytes | None = None
        self.content_length: int | None = None
        self.chunked = False
        self.keep_alive = True
        self.upgrade: bytes | None = None  # b"websocket" for an accepted WebSocket upgrade
        self.expect_continue = False
        self.connection_tokens: tuple[bytes, ...] = ()  # lower-cased tokens of Connection
        self.raw: bytes | None = None  # the head bytes (fast path only)
        self.line_end = 0  # index of the CRLF ending the request line in ``raw``
        self.fields: list[bytes] = []  # special field names present, in order (fast path)

    @property
    def headers(self) -> list[tuple[bytes, bytes]]:
        h = self._headers
        if h is None:
            h = self._headers = header_list(self.raw or b"", self.line_end)
        return h

    @property
    def headers_parsed(self) -> bool:
        return self._headers is not None

    @property
    def has_body(self) -> bool:
        return self.chunked or bool(self.content_length)

    def __repr__(self) -> str:
        return f"RequestHead({self.method!r} {self.target!r} HTTP/{self.version.decode()})"


def header_list(raw: bytes, line_end: int) -> list[tuple[bytes, bytes]]:
    """``(lower-cased name, value)`` of every field line of a validated head ``raw``."""
    out = []
    for line in raw[line_end + 2 : -4].split(b"\r\n"):
        name, _, value = line.partition(b":")
        out.append((name.lower(), value.strip(b" \t")))
    return out
