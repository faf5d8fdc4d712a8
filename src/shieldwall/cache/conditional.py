"""Validation: conditional requests to the origin, 304 merges, and clients' conditionals.

Revalidation (RFC 9111 §4.3.1): the stored ``ETag`` becomes ``If-None-Match`` and the stored
``Last-Modified`` becomes ``If-Modified-Since`` (both when both exist; the origin gives
``If-None-Match`` precedence, RFC 9110 §13.2.2).

304 merge (§4.3.4): the 304 updates the stored response it validates. If the 304 carries a
strong ETag that differs from the stored one, it validates some other response and this
entry is not updated (``None``: refetch). Otherwise every field of the 304 replaces the
stored fields of that name, except hop-by-hop fields, ``Content-Length`` (§3.2), and framing
fields. The entry's exchange timestamps become the revalidation's, so freshness restarts.
``lasting_fields_equal`` tells whether two stored header lists differ in more than what every
304 changes (``Date``, ``Age``): the edge rewrites a disk copy only for such a difference.

Clients' own conditionals answered from a stored entry (§4.3.2, RFC 9110 §13.1):
``If-None-Match`` uses the *weak* comparison (``*`` matches any entry); ``If-Modified-Since``
is evaluated only when ``If-None-Match`` is absent, only for GET/HEAD, against the stored
``Last-Modified`` (or ``Date`` when there is none).
"""

from __future__ import annotations

from dataclasses import replace

from shieldwall.cache._fields import (
    HOP_BY_HOP,
    Headers,
    get_first,
    list_values,
    parse_http_date,
)
from shieldwall.cache.entry import CacheEntry, ResponseFacts
from shieldwall.cache.freshness import date_value, parse_age

__all__ = [
    "build_revalidation_headers",
    "client_not_modified",
    "etag_strong_match",
    "etag_weak_match",
    "lasting_fields_equal",
    "update_from_304",
]

_PER_RESPONSE = frozenset({b"date", b"age"})  # fields every 304 changes (not worth a rewrite)
_NOT_MERGED = HOP_BY_HOP | {b"content-length", b"content-encoding", b"content-range"}
MAX_ETAGS = 64  # entity-tags compared per If-None-Match / If-Match


def build_revalidation_headers(entry: CacheEntry) -> list[tuple[bytes, bytes]]:
    """Conditional headers to add to the origin request validating ``entry``."""
    out: list[tuple[bytes, bytes]] = []
    etag = get_first(entry.headers, b"etag")
    if etag is not None:
        out.append((b"if-none-match", etag))
    last_modified = get_first(entry.headers, b"last-modified")
    if last_modified is not None:
        out.append((b"if-modified-since", last_modified))
    return out


def _opaque(tag: bytes) -> tuple[bool, bytes]:
    tag = tag.strip()
    if tag.startswith(b"W/"):
        return True, tag[2:]
    return False, tag


def etag_weak_match(a: bytes, b: bytes) -> bool:
    return _opaque(a)[1] == _opaque(b)[1]


def etag_strong_match(a: bytes, b: bytes) -> bool:
    weak_a, oa = _opaque(a)
    weak_b, ob = _opaque(b)
    return not weak_a and not weak_b and oa == ob


def update_from_304(entry: CacheEntry, resp: ResponseFacts) -> CacheEntry | None:
    """The entry refreshed by a 304, or None when the 304 does not validate it."""
    new_etag = get_first(resp.headers, b"etag")
    old_etag = get_first(entry.headers, b"etag")
    if new_etag is not None and old_etag is not None and not etag_weak_match(new_etag, old_etag):
        return None
    if new_etag is not None and old_etag is None:
        return None
    replaced = {k for k, _ in resp.headers if k not in _NOT_MERGED}
    merged = [(k, v) for k, v in entry.headers if k not in replaced]
    merged.extend((k, v) for k, v in resp.headers if k in replaced)
    return replace(
        entry,
        headers=tuple(merged),
        request_time=resp.request_time,
        response_time=resp.response_time,
        date=date_value(resp.headers, resp.response_time),
        age_value=parse_age(get_first(resp.headers, b"age")),
    )


def lasting_fields_equal(a: Headers, b: Headers) -> bool:
    """Equal header lists but for ``Date`` and ``Age`` (order kept, names lower-case)."""
    if a is b:
        return True
    skip = _PER_RESPONSE
    return [f for f in a if f[0] not in skip] == [f for f in b if f[0] not in skip]


def client_not_modified(entry: CacheEntry, method: str, req_headers: Headers) -> bool:
    """Should the client get a 304 for its own conditional request? (GET/HEAD only)"""
    if method not in ("GET", "HEAD") or entry.status != 200:
        return False
    inm = list_values(req_headers, b"if-none-match")
    if inm:
        etag = get_first(entry.headers, b"etag")
        for candidate in inm[:MAX_ETAGS]:
            if candidate.strip() == b"*":
                return True
            if etag is not None and etag_weak_match(candidate, etag):
                return True
        return False
    ims = parse_http_date(get_first(req_headers, b"if-modified-since"))
    if ims is None:
        return False
    last = parse_http_date(get_first(entry.headers, b"last-modified"))
    if last is None:
        last = entry.date
    return last <= ims
