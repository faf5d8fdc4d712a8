"""Build the response a stored entry answers with (RFC 9111 §4, RFC 9110 §13-§14).

``serve(entry, method, req_headers, now)`` returns a ``Served`` (status, headers, body):

1. A client conditional that the entry satisfies -> ``304`` carrying the fields RFC 9110
   §15.4.5 requires (Cache-Control, Content-Location, Date, ETag, Expires, Vary) plus
   Last-Modified and Age; no body.
2. ``Range`` on GET of a stored 200 (RFC 9110 §14.2): exactly one ``bytes`` range
   (``a-b``, ``a-``, ``-n``) -> ``206`` with ``Content-Range``; an unsatisfiable single range
   -> ``416`` with ``Content-Range: bytes */len``; several ranges, another unit, a syntax error
   or a failed ``If-Range`` (strong ETag comparison or exact Last-Modified) -> the full 200.
3. Otherwise the stored response. ``Age`` is always replaced with the current age (§5.1);
   ``Content-Length`` always describes the bytes sent. HEAD gets the GET's headers, no body.

The body is a ``memoryview`` slice of the stored bytes: no copy for ranges.
"""

from __future__ import annotations

from dataclasses import dataclass

from shieldwall.cache._fields import Headers, get_first
from shieldwall.cache.conditional import client_not_modified, etag_strong_match
from shieldwall.cache.entry import CacheEntry
from shieldwall.cache.freshness import current_age

__all__ = ["ByteRange", "Served", "parse_range", "serve"]

_304_FIELDS = frozenset(
    {
        b"cache-control",
        b"content-location",
        b"date",
        b"etag",
        b"expires",
        b"vary",
        b"last-modified",
        b"cdn-cache-control",
    }
)
_REPLACED = frozenset({b"age", b"content-length", b"content-range"})
MAX_RANGE_HEADER = 1024  # longer Range values are ignored (serve the full response)


@dataclass(frozen=True, slots=True)
class Served:
    status: int
    headers: list[tuple[bytes, bytes]]
    body: memoryview


@dataclass(frozen=True, slots=True)
class ByteRange:
    """``first``..``last`` inclusive; ``unsatisfiable`` when nothing of the body matches."""

    first: int = 0
    last: int = -1
    unsatisfiable: bool = False


def parse_range(value: bytes, length: int) -> ByteRange | None:
    """The single byte range ``value`` asks for, or None to serve the whole body."""
    if len(value) > MAX_RANGE_HEADER:
        return None
    unit, eq, spec = value.partition(b"=")
    if not eq or unit.strip().lower() != b"bytes":
        return None
    spec = spec.strip()
    if b"," in spec:
        return None  # multi-range: the full 200 is a valid answer (RFC 9110 §14.2)
    first_s, dash, last_s = spec.partition(b"-")
    first_s, last_s = first_s.strip(), last_s.strip()
    if not dash or (first_s and not first_s.isdigit()) or (last_s and not last_s.isdigit()):
        return None
    if not first_s:
        if not last_s:
            return None
        suffix = int(last_s)
        if suffix == 0 or length == 0:
            return ByteRange(unsatisfiable=True)
        return ByteRange(max(0, length - suffix), length - 1)
    first = int(first_s)
    if last_s:
        last = int(last_s)
        if last < first:
            return None  # invalid range-spec: ignore the header
        last = min(last, length - 1)
    else:
        last = length - 1
    if first >= length:
        return ByteRange(unsatisfiable=True)
    return ByteRange(first, last)


def _if_range_ok(entry: CacheEntry, value: bytes) -> bool:
    value = value.strip()
    if value.startswith(b'"') or value.startswith(b"W/"):
        etag = get_first(entry.headers, b"etag")
        return etag is not None and etag_strong_match(value, etag)
    last_modified = get_first(entry.headers, b"last-modified")
    return last_modified is not None and last_modified.strip() == value


def serve(entry: CacheEntry, method: str, req_headers: Headers, now: float) -> Served:
    age = str(int(current_age(entry, now))).encode("ascii")
    base = [(k, v) for k, v in entry.headers if k not in _REPLACED]
    base.append((b"age", age))
    empty = memoryview(b"")
    if client_not_modified(entry, method, req_headers):
        return Served(304, [(k, v) for k, v in base if k in _304_FIELDS or k == b"age"], empty)
    body = memoryview(entry.body)
    length = len(body)
    status = entry.status
    range_value = get_first(req_headers, b"range")
    if range_value is not None and method == "GET" and status == 200:
        if_range = get_first(req_headers, b"if-range")
        rng = parse_range(range_value, length)
        if rng is not None and (if_range is None or _if_range_ok(entry, if_range)):
            if rng.unsatisfiable:
                headers = [(k, v) for k, v in base if k != b"content-type"]
                headers.append((b"content-range", f"bytes */{length}".encode("ascii")))
                headers.append((b"content-length", b"0"))
                return Served(416, headers, empty)
            part = body[rng.first : rng.last + 1]
            headers = list(base)
            headers.append(
                (b"content-range", f"bytes {rng.first}-{rng.last}/{length}".encode("ascii"))
            )
            headers.append((b"content-length", str(len(part)).encode("ascii")))
            return Served(206, headers, part if method == "GET" else empty)
    headers = list(base)
    if status != 204 and not 100 <= status < 200:
        headers.append((b"content-length", str(length).encode("ascii")))
    return Served(status, headers, body if method == "GET" else empty)
