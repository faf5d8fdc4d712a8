"""Request heads and end-of-message events of the HTTP/1.1 request parser (``h1_request``).

``RequestHead`` is one validated request head. A head from the general (callback) path carries
its ``headers`` list; a head from the fast path carries the head bytes (``raw``) instead and
builds the list only on first use (``header_list``), since most requests on a zone without
filters never need it. The parser hands the same head object out again for a byte-identical
repeat on the same connection: nothing edits a head after parsing.

``HeaderBlock``: a head's field lines, with the header list and whatever is derived from the
field lines alone. Browsers and API clients send the very same field lines with every request
on a connection (only the request line changes), so the fast path gives a new head the
previous head's block when its field lines are byte-identical: the list is built once, and
filters keep their header-only facts on the block (``HeaderBlock.derived``/``keep``), so a
new request line costs only the work that reads the request line. Nothing may edit a block's
list: it is shared by every request of the block.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

__all__ = ["END", "MAX_DERIVED", "EndOfMessage", "HeaderBlock", "RequestHead", "header_list"]

MAX_DERIVED: Final = 8  # consumers' facts kept per block (one per compiled consumer; a reload
# brings new consumers: the block forgets the old ones when full)


class EndOfMessage:
    """The end of one request message. Use the ``END`` singleton."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "END"


END: Final = EndOfMessage()


class HeaderBlock:
    """The field lines of a head (``tail``: from the CRLF that ends the request line through
    the final CRLFCRLF), the header list built from them on first use, and consumers' facts
    derived from them (``derived``/``keep``, keyed by the consumer: a compiled rule index, a
    WAF engine). A general-path head's block holds the parsed list and no ``tail``."""

    __slots__ = ("_list", "facts", "tail")

    def __init__(self, tail: bytes, headers: list[tuple[bytes, bytes]] | None = None) -> None:
        self.tail = tail
        self._list = headers
        # owner -> what it kept (``keep``), None before the first: per-request code reads it
        # directly (``facts.get(owner)`` is ``derived(owner)`` without a call, which counts
        # there); written only through ``keep``
        self.facts: dict[Any, Any] | None = None

    @property
    def headers(self) -> list[tuple[bytes, bytes]]:
        h = self._list
        if h is None:
            h = self._list = header_list(self.tail, 0)
        return h

    @property
    def built(self) -> bool:
        return self._list is not None

    def derived(self, owner: Any) -> Any:
        """What ``owner`` kept for these field lines, or None."""
        d = self.facts
        return None if d is None else d.get(owner)

    def keep(self, owner: Any, value: Any) -> None:
        """Remember ``value`` (not None) for ``owner``: valid for any request of the block,
        so it may depend on the field lines and ``owner``'s config only."""
        d = self.facts
        if d is None:
            d = self.facts = {}
        elif len(d) >= MAX_DERIVED and owner not in d:
            d.clear()
        d[owner] = value

    def fact(self, owner: Any, compute: Callable[[HeaderBlock], Any]) -> Any:
        """``derived(owner)``, computed by ``compute(self)`` (never None) and kept on first
        use: for a fact of the field lines alone."""
        d = self.facts
        value = None if d is None else d.get(owner)
        if value is None:
            value = compute(self)
            self.keep(owner, value)
        return value


class RequestHead:
    """A validated request head. Header names are lower-cased; values are raw bytes.

    A head from ``parse_fast`` keeps the head bytes (``raw``, ending in CRLFCRLF) and the
    names of the fields present that the proxy treats specially (``fields``); its ``headers``
    list is built from ``raw`` only when something asks for it.
    """

    __slots__ = (
        "block",
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
        self.block = HeaderBlock(b"", [])  # the general path appends to its list
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
        return self.block.headers

    @property
    def headers_parsed(self) -> bool:
        return self.block.built

    @property
    def has_body(self) -> bool:
        return self.chunked or bool(self.content_length)

    def __repr__(self) -> str:
        return f"RequestHead({self.method!r} {self.target!r} HTTP/{self.version.decode()})"


def header_list(raw: bytes, line_end: int) -> list[tuple[bytes, bytes]]:
    """``(lower-cased name, value)`` of every field line of a validated head ``raw`` (or of
    its field lines, ``line_end`` 0)."""
    out = []
    for line in raw[line_end + 2 : -4].split(b"\r\n"):
        name, _, value = line.partition(b":")
        out.append((name.lower(), value.strip(b" \t")))
    return out
