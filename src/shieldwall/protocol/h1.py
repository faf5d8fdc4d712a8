"""HTTP/1.1 for shieldwall: parsers (re-exported) and outbound serialisation helpers.

- ``h1_request``  sans-IO client request parser (events out; strict RFC 9112 framing);
- ``h1_response`` sans-IO upstream response head parser and chunked body decoder;
- here: building the bytes we send. Outbound messages always carry exactly one framing:
  ``Content-Length`` or ``Transfer-Encoding: chunked`` (never both, never a coding we did not
  produce), so a message that was ambiguous on the way in cannot be ambiguous on the way out.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from shieldwall.protocol.h1_request import (
    END,
    EndOfMessage,
    HeaderBlock,
    RequestEvent,
    RequestHead,
    RequestParser,
)
from shieldwall.protocol.h1_response import (
    F_CHUNKED,
    F_LENGTH,
    F_NO_BODY,
    F_UNTIL_CLOSE,
    Framing,
    ResponseHead,
    ResponseHeadCache,
    ResponseParser,
    find_head_end,
    parse_response_head,
)

__all__ = [
    "END",
    "F_CHUNKED",
    "F_LENGTH",
    "F_NO_BODY",
    "F_UNTIL_CLOSE",
    "LAST_CHUNK",
    "EndOfMessage",
    "Framing",
    "HeaderBlock",
    "RequestEvent",
    "RequestHead",
    "RequestParser",
    "ResponseHead",
    "ResponseHeadCache",
    "ResponseParser",
    "encode_chunk",
    "find_head_end",
    "parse_response_head",
    "serialise_request_head",
    "serialise_response_head",
]

LAST_CHUNK: Final = b"0\r\n\r\n"  # last-chunk with no trailers


def encode_chunk(data: bytes) -> bytes:
    """One chunk of a chunked body (``data`` must be non-empty)."""
    return b"%x\r\n%s\r\n" % (len(data), data)


def serialise_request_head(
    method: bytes, target: bytes, headers: Iterable[tuple[bytes, bytes]]
) -> bytes:
    """``method target HTTP/1.1`` plus ``headers`` (already filtered; names as given)."""
    parts = [method, b" ", target, b" HTTP/1.1\r\n"]
    for name, value in headers:
        parts += (name, b": ", value, b"\r\n")
    parts.append(b"\r\n")
    return b"".join(parts)


def serialise_response_head(
    status: int, reason: bytes, headers: Iterable[tuple[bytes, bytes]]
) -> bytes:
    parts = [b"HTTP/1.1 %d %s\r\n" % (status, reason)]
    for name, value in headers:
        parts += (name, b": ", value, b"\r\n")
    parts.append(b"\r\n")
    return b"".join(parts)
