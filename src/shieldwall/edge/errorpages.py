"""Branded error pages the edge answers with itself.

A browser gets a small HTML page; a client whose ``Accept`` names ``application/json`` gets a
JSON object. Both carry the request id, which is also sent in the ``sw-request-id`` response
header (every response the edge sends carries it) and stored on the ``RequestContext`` for the
access log, so a visitor's screenshot can be matched to a log line.

Request ids are ``<12 hex chars random per worker>-<hex counter>``: unique across workers and
restarts with overwhelming probability, and one string format per request to make.

Speed (a flood is answered with these pages request after request): a page is rendered once
per (status, reason, JSON or HTML, server name) and kept in a bounded cache (``MAX_PAGES``,
cleared when full); a request only splices in its id, the content length that follows from
it, its extra lines and the connection line. A ``ReadyAnswer`` is a ``Respond`` a filter
answers many times (the rate limits' 429s): its head up to the request id is rendered when it
is made. Either way the bytes are those of a fresh rendering (``tests/edge/test_answer_bytes``).
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Final

from shieldwall.edge.decision import Respond

__all__ = [
    "REQUEST_ID_HEADER",
    "ReadyAnswer",
    "RequestIds",
    "error_response",
    "plain_head",
    "reason_phrase",
    "wants_json",
]

REQUEST_ID_HEADER: Final = b"sw-request-id"
_PHRASES: Final[dict[int, bytes]] = {}  # status -> reason phrase (HTTPStatus() is slow)
MAX_PAGES: Final = 1024  # rendered error pages kept (reasons come from config); cleared when full
_PAGES: Final[dict[tuple[int, str, bool, str], tuple[bytes, bytes, bytes, bytes]]] = {}

_MESSAGES: Final = {
    400: "The request could not be understood.",
    403: "Access to this resource was refused.",
    404: "Not found.",
    405: "This method is not supported here.",
    408: "The request took too long to arrive.",
    413: "The request body is too large.",
    414: "The request URI is too long.",
    421: "This server does not serve the requested host.",
    429: "Too many requests. Please slow down.",
    431: "The request headers are too large.",
    502: "The origin server sent an invalid response or could not be reached.",
    503: "The service is temporarily unavailable.",
    504: "The origin server did not answer in time.",
    505: "This HTTP version is not supported.",
}


class RequestIds:
    """Cheap unique request ids: per-worker random prefix plus a counter."""

    __slots__ = ("_dash", "_n", "prefix")

    def __init__(self) -> None:
        self.prefix = os.urandom(6).hex()
        self._dash = self.prefix + "-"
        self._n = 0

    def next(self) -> str:
        self._n += 1
        return f"{self._dash}{self._n:x}"


def reason_phrase(status: int) -> bytes:
    phrase = _PHRASES.get(status)
    if phrase is None:
        try:
            phrase = HTTPStatus(status).phrase.encode()
        except ValueError:
            phrase = b"Unknown"
        if 100 <= status <= 999:  # bounded: at most 900 entries
            _PHRASES[status] = phrase
    return phrase


def plain_head(
    status: int,
    headers: Sequence[tuple[bytes, bytes]],
    body_len: int,
    extra: Sequence[tuple[bytes, bytes]] | None = None,
) -> bytes:
    """The head of a plain edge answer up to the request id: status line, ``headers`` and
    ``extra`` lines as given, ``content-length``, then ``sw-request-id: `` (the caller appends
    the id, CRLF, ``connection: close`` if closing, CRLF and the body)."""
    parts = [b"HTTP/1.1 %d %s\r\n" % (status, reason_phrase(status))]
    for k, v in headers if extra is None else (*headers, *extra):
        parts += (k, b": ", v, b"\r\n")
    parts.append(b"content-length: %d\r\n" % body_len)
    parts += (REQUEST_ID_HEADER, b": ")
    return b"".join(parts)


@dataclass(frozen=True, slots=True)
class ReadyAnswer(Respond):
    """A ``Respond`` meant to be answered many times (e.g. a rate limit's 429, one per whole
    second to reset): its head up to the request id is rendered once, at construction
    (``dataclasses.replace`` renders a changed copy), so the data path only splices the id
    and the connection line. On the wire it is byte for byte the ``Respond`` it extends."""

    head: bytes = field(default=b"", init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "head", plain_head(self.status, self.headers, len(self.body)))

    def wire(self, request_id: bytes, end: bytes, head_only: bool) -> bytes:
        """The answer's bytes for one request: head, its id, ``end`` (the connection line
        and blank line), then the body unless ``head_only`` (a HEAD request)."""
        if head_only:
            return self.head + request_id + end
        return b"".join((self.head, request_id, end, self.body))


def wants_json(accept: bytes | None) -> bool:
    return accept is not None and b"application/json" in accept.lower()


def error_response(
    status: int,
    request_id: str,
    *,
    json_body: bool,
    server_name: str,
    reason: str = "",
    close: bool = False,
    head_only: bool = False,
    extra: bytes = b"",
) -> bytes:
    """A complete HTTP/1.1 response (head and body); ``extra``: more header lines (each
    ending CRLF), e.g. ``Retry-After`` or the cache's status lines.

    The page is rendered once per (status, reason, JSON or HTML, server name) (``_page``); a
    request splices in its id (twice: field and body), the content length, ``extra`` and the
    connection line."""
    key = (status, reason, json_body, server_name)
    page = _PAGES.get(key)
    if page is None:
        if len(_PAGES) >= MAX_PAGES:
            _PAGES.clear()
        page = _PAGES[key] = _page(status, json_body, server_name, reason)
    start, mid, before, after = page
    rid = request_id.encode()
    if json_body and not (request_id.isascii() and request_id.replace("-", "").isalnum()):
        # an id JSON would escape (never one of ours, see RequestIds): the document in full
        phrase = reason_phrase(status).decode()
        message = reason or _MESSAGES.get(status, phrase)
        doc = {"status": status, "error": phrase, "message": message, "request_id": request_id}
        body = json.dumps(doc).encode()
    else:
        body = before + rid + after
    parts = [start, b"%d" % len(body), mid, rid, b"\r\n", extra]
    if close:
        parts.append(b"connection: close\r\n")
    parts.append(b"\r\n")
    if not head_only:
        parts.append(body)
    return b"".join(parts)


def _page(
    status: int, json_body: bool, server_name: str, reason: str
) -> tuple[bytes, bytes, bytes, bytes]:
    """An error page in pieces: the head up to the content length's value, the head from
    there up to the request id's value, and the body before and after the request id."""
    phrase = reason_phrase(status).decode()
    message = reason or _MESSAGES.get(status, phrase)
    if json_body:
        # json.dumps of the same dict with "request_id" last, cut before the id's value
        doc = json.dumps({"status": status, "error": phrase, "message": message})
        before = (doc[:-1] + ', "request_id": "').encode()
        after = b'"}'
        ctype = b"application/json"
    else:
        before = (
            "<!doctype html><html><head><meta charset=utf-8>"
            f"<title>{status} {html.escape(phrase)}</title>"
            "<style>body{font:16px system-ui,sans-serif;margin:15vh auto;max-width:36em;"
            "color:#222}small{color:#777}</style></head><body>"
            f"<h1>{status} {html.escape(phrase)}</h1><p>{html.escape(message)}</p>"
            "<p><small>Request ID: "
        ).encode()
        after = f" &middot; {html.escape(server_name)}</small></p></body></html>\n".encode()
        ctype = b"text/html; charset=utf-8"
    start = b"HTTP/1.1 %d %s\r\ncontent-type: %s\r\ncontent-length: " % (
        status,
        phrase.encode(),
        ctype,
    )
    mid = b"\r\ncache-control: no-store\r\n" + REQUEST_ID_HEADER + b": "
    return start, mid, before, after
