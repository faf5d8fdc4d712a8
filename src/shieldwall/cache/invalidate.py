"""Invalidation after unsafe methods (RFC 9111 §4.4).

When a request with an unsafe method (anything but GET, HEAD, OPTIONS, TRACE) gets a non-error
response (2xx or 3xx), the cache must invalidate the target URI and may invalidate the URIs in
``Location`` and ``Content-Location`` — but only when they have the same origin (scheme, host,
port) as the target, so a response cannot purge another site's entries.
"""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

from shieldwall.cache._fields import Headers, get_first
from shieldwall.cache.entry import RequestFacts

__all__ = ["SAFE_METHODS", "invalidation_urls"]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(url: str) -> tuple[str, str, int] | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    return scheme, host, port if port is not None else _DEFAULT_PORTS.get(scheme, 0)


def invalidation_urls(req: RequestFacts, status: int, resp_headers: Headers) -> list[str]:
    """URLs whose stored responses must be dropped after this exchange (maybe none)."""
    if req.method in SAFE_METHODS or not 200 <= status < 400:
        return []
    target = req.url
    urls = [target]
    origin = _origin(target)
    for name in (b"location", b"content-location"):
        value = get_first(resp_headers, name)
        if value is None:
            continue
        absolute = urljoin(target, value.decode("latin-1").strip())
        if _origin(absolute) == origin and absolute not in urls:
            urls.append(absolute)
    return urls
