"""Cache status vocabulary and the RFC 9211 ``Cache-Status`` header.

``CacheStatus`` is what ``lookup`` decides and what the access log records:

- ``HIT``          fresh entry served.
- ``MISS``         nothing stored: fetch (coalesced), maybe store.
- ``EXPIRED``      stored but must be revalidated/refetched before use.
- ``STALE``        stale entry served (client ``max-stale``, or ``stale-if-error`` on origin error).
- ``UPDATING``     stale entry served within ``stale-while-revalidate``; a refresh runs behind it.
- ``REVALIDATED``  stale entry confirmed by a 304 and served.
- ``BYPASS``       the request is not eligible for the cache (method, zone rule, hit-for-miss).
- ``DYNAMIC``      fetched; the response turned out not storable.

RFC 9211 §2: ``Cache-Status: shieldwall; hit; ttl=12`` or ``shieldwall; fwd=uri-miss; stored``.
Parameters used: ``hit``, ``fwd`` (``bypass | method | uri-miss | vary-miss | miss | request |
stale``), ``fwd-status``, ``ttl`` (may be negative when serving stale), ``stored``,
``collapsed``, ``detail``. ``detail`` is an sf-token or sf-string; we emit a token when the
value allows it, else a quoted string.
"""

from __future__ import annotations

import re
from enum import Enum
from typing import Literal

__all__ = ["CacheStatus", "Forward", "cache_status_header"]

Forward = Literal["bypass", "method", "uri-miss", "vary-miss", "miss", "request", "stale"]

_SF_TOKEN = re.compile(r"^[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*$")
_MAX_DETAIL = 64  # characters of detail kept; it may echo configuration, never request data


class CacheStatus(Enum):
    HIT = "HIT"
    MISS = "MISS"
    EXPIRED = "EXPIRED"
    STALE = "STALE"
    UPDATING = "UPDATING"
    REVALIDATED = "REVALIDATED"
    BYPASS = "BYPASS"
    DYNAMIC = "DYNAMIC"

    @property
    def served_from_cache(self) -> bool:
        return self in (
            CacheStatus.HIT,
            CacheStatus.STALE,
            CacheStatus.UPDATING,
            CacheStatus.REVALIDATED,
        )


_DEFAULT_FWD: dict[CacheStatus, Forward | None] = {
    CacheStatus.HIT: None,
    CacheStatus.STALE: None,
    CacheStatus.UPDATING: None,
    CacheStatus.MISS: "uri-miss",
    CacheStatus.EXPIRED: "stale",
    CacheStatus.REVALIDATED: "stale",
    CacheStatus.BYPASS: "bypass",
    CacheStatus.DYNAMIC: "uri-miss",
}


def _sf_string(text: str) -> str:
    cleaned = "".join(c for c in text if 0x20 <= ord(c) < 0x7F)
    return '"' + cleaned.replace("\\", "\\\\").replace('"', '\\"') + '"'


def cache_status_header(
    status: CacheStatus,
    *,
    name: str = "shieldwall",
    ttl: float | None = None,
    fwd: Forward | None = None,
    fwd_status: int | None = None,
    stored: bool = False,
    collapsed: bool = False,
    detail: str | None = None,
) -> bytes:
    """One Cache-Status list member for this cache (RFC 9211)."""
    parts = [name if _SF_TOKEN.match(name) else _sf_string(name)]
    forward = fwd if fwd is not None else _DEFAULT_FWD[status]
    if status.served_from_cache and status is not CacheStatus.REVALIDATED:
        parts.append("hit")
    if forward is not None:
        parts.append(f"fwd={forward}")
    if fwd_status is not None:
        parts.append(f"fwd-status={int(fwd_status)}")
    elif status is CacheStatus.REVALIDATED:
        parts.append("fwd-status=304")
    if ttl is not None:
        parts.append(f"ttl={int(ttl)}")  # truncated toward zero
    if stored:
        parts.append("stored")
    if collapsed:
        parts.append("collapsed")
    if detail:
        d = detail[:_MAX_DETAIL]
        parts.append("detail=" + (d if _SF_TOKEN.match(d) else _sf_string(d)))
    return "; ".join(parts).encode("ascii")
