"""Helpers for cache tests: build request/response facts with an explicit clock."""

from __future__ import annotations

from shieldwall.cache._fields import format_http_date
from shieldwall.cache.entry import RequestFacts, ResponseFacts

T0 = 1_700_000_000.0  # a fixed wall-clock instant; tests add offsets to it


def h(*pairs: tuple[str, str]) -> tuple[tuple[bytes, bytes], ...]:
    return tuple((k.lower().encode(), v.encode()) for k, v in pairs)


def date(ts: float) -> str:
    return format_http_date(ts).decode()


def req(
    url: str = "http://example.com/a", method: str = "GET", *headers: tuple[str, str]
) -> RequestFacts:
    return RequestFacts.from_url(method, url, h(*headers))


def resp(
    status: int = 200,
    *headers: tuple[str, str],
    at: float = T0,
    delay: float = 0.0,
    with_date: bool = True,
) -> ResponseFacts:
    hs = h(*headers)
    if with_date and not any(k == b"date" for k, _ in hs):
        hs = ((b"date", date(at).encode()), *hs)
    return ResponseFacts(status=status, headers=hs, request_time=at - delay, response_time=at)


def entry(url: str, body: bytes = b"x", *, tags: tuple[str, ...] = (), key: str | None = None):  # type: ignore[no-untyped-def]
    """A plain stored 200 for store-level tests."""
    from shieldwall.cache.entry import CacheEntry, RequestFacts

    host = RequestFacts.from_url("GET", url).host
    return CacheEntry(
        status=200, headers=((b"content-type", b"text/plain"),), body=body,
        request_time=T0, response_time=T0, date=T0, stored_at=T0,
        url=url, host=host, key=key or url, tags=tags,
    )  # fmt: skip
