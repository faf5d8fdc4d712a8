"""Bytes of a cached answer, request facts from a ``RequestContext``, response head fields.

``render`` builds one ``bytes`` (head + body) so a cache hit costs a single
``transport.write``. Our cache-status header is ``sw-cache`` (one of the ``CacheStatus``
values: HIT, MISS, EXPIRED, STALE, UPDATING, REVALIDATED, BYPASS, DYNAMIC) next to the RFC 9211
``Cache-Status`` member of this cache. Both are added to every response of a caching zone.
"""

from __future__ import annotations

from typing import Final

from shieldwall.cache import CacheStatus, RequestFacts, Served, cache_status_header
from shieldwall.cache.status import Forward
from shieldwall.edge.context import RequestContext
from shieldwall.edge.errorpages import reason_phrase

__all__ = ["STATUS_HEADER", "facts_from", "head_fields", "render", "status_lines"]

STATUS_HEADER: Final = b"sw-cache"
_MAX_FIELDS: Final = 256  # response header lines considered for caching

_CLOSE: Final = b"connection: close\r\n"


def facts_from(
    ctx: RequestContext,
    method: str | None = None,
    headers: list[tuple[bytes, bytes]] | None = None,
) -> RequestFacts:
    """``headers``: the request's header list when ``ctx.headers`` is left unbuilt."""
    return RequestFacts(
        method=method or ctx.method.decode("latin-1"),
        scheme=ctx.conn.scheme,
        host=ctx.host,
        path=ctx.path.decode("latin-1"),
        query=ctx.query.decode("latin-1"),
        headers=ctx.headers if headers is None else headers,
    )


def head_fields(raw: bytes) -> list[tuple[bytes, bytes]]:
    """``(lower-case name, value)`` pairs of a validated response head (``raw`` ends CRLFCRLF)."""
    out: list[tuple[bytes, bytes]] = []
    for line in raw.split(b"\r\n")[1:_MAX_FIELDS]:
        if not line:
            break
        name, _, value = line.partition(b":")
        out.append((name.strip().lower(), value.strip()))
    return out


def status_lines(
    status: CacheStatus,
    *,
    ttl: float | None = None,
    fwd: Forward | None = None,
    fwd_status: int | None = None,
    stored: bool = False,
    collapsed: bool = False,
    detail: str | None = None,
) -> bytes:
    """``sw-cache`` and ``Cache-Status`` lines (each ending CRLF)."""
    cs = cache_status_header(
        status, ttl=ttl, fwd=fwd, fwd_status=fwd_status, stored=stored, collapsed=collapsed,
        detail=detail,
    )  # fmt: skip
    return b"%s: %s\r\ncache-status: %s\r\n" % (STATUS_HEADER, status.value.encode(), cs)


def render(served: Served, lines: bytes, extra: bytes, close: bool, head_only: bool) -> bytes:
    """A complete HTTP/1.1 response: ``served`` + our ``lines`` + ``extra`` (CRLF-ended)."""
    parts = [b"HTTP/1.1 %d %s\r\n" % (served.status, reason_phrase(served.status))]
    for k, v in served.headers:
        parts += (k, b": ", v, b"\r\n")
    parts += (lines, extra)
    if close:
        parts.append(_CLOSE)
    parts.append(b"\r\n")
    if not head_only and served.body:
        parts.append(served.body)  # type: ignore[arg-type]  # join takes any buffer
    return b"".join(parts)
