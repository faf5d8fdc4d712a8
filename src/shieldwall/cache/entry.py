"""What the cache stores, and the request/response facts its policy reads.

``CacheEntry`` is immutable: an update (a 304 merge) produces a new entry. Timestamps are
wall-clock seconds since the epoch (the same clock as ``Date``), captured by the edge:

- ``request_time``  when the request that produced the response was sent (§4.2.3),
- ``response_time`` when its head was received (§4.2.3),
- ``date``          the response's ``Date`` value (``response_time`` when absent or invalid;
                    RFC 9110 §6.6.1 lets a recipient add one),
- ``stored_at``     when the entry entered the store.

``age_value`` is the ``Age`` the origin (or an upstream cache) sent. Everything the Age
arithmetic of §4.2.3 needs is therefore in the entry; freshness is computed, never stored.

``disk_headers`` and ``disk_at`` are bookkeeping of the edge's write-behind disk tier, not part
of the response (never compared, never serialised): the headers of this entry's copy on disk
(None: unknown) and when that copy was written; a 304 merge carries them over, so the edge can
tell whether a revalidation changed anything worth rewriting the disk copy for.

``vary_names`` non-empty with ``status == VARY_MARKER`` marks a *variant marker*: the entry at a
primary key that says which request fields select the variant (RFC 9111 §4.1). Real variants live
at ``primary + VARIANT_SEP + vary_key``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from shieldwall.cache._fields import Headers

__all__ = [
    "ENTRY_OVERHEAD",
    "VARIANT_SEP",
    "VARY_MARKER",
    "CacheEntry",
    "RequestFacts",
    "ResponseFacts",
]

VARY_MARKER = 0  # status of a variant marker entry
VARIANT_SEP = "\x1f"  # never produced by key.py (control characters are escaped there)
ENTRY_OVERHEAD = 256  # bytes charged per entry on top of its headers and body


@dataclass(frozen=True, slots=True)
class RequestFacts:
    """The request as the cache sees it. Header names lower-case; values raw bytes."""

    method: str
    scheme: str
    host: str  # lower-case, may carry ":port" when non-default
    path: str  # raw path as received
    query: str = ""  # raw query without "?"
    headers: Headers = ()

    @property
    def url(self) -> str:
        q = f"?{self.query}" if self.query else ""
        return f"{self.scheme}://{self.host}{self.path}{q}"

    @classmethod
    def from_url(cls, method: str, url: str, headers: Headers = ()) -> RequestFacts:
        """Convenience for tests and purge tooling."""
        parts = urlsplit(url)
        return cls(
            method=method,
            scheme=parts.scheme or "http",
            host=parts.netloc.lower(),
            path=parts.path or "/",
            query=parts.query,
            headers=headers,
        )


@dataclass(frozen=True, slots=True)
class ResponseFacts:
    """A response head from the origin, with the exchange's timestamps."""

    status: int
    headers: Headers
    request_time: float
    response_time: float


@dataclass(frozen=True, slots=True)
class CacheEntry:
    status: int
    headers: tuple[tuple[bytes, bytes], ...]
    body: bytes
    request_time: float
    response_time: float
    date: float
    stored_at: float
    age_value: float = 0.0
    url: str = ""
    host: str = ""
    key: str = ""  # the store key this entry lives at
    vary_key: str = ""
    vary_names: tuple[bytes, ...] = ()
    tags: tuple[str, ...] = ()
    size: int = field(default=0, compare=False)
    disk_headers: tuple[tuple[bytes, bytes], ...] | None = field(
        default=None, compare=False, repr=False
    )
    disk_at: float = field(default=0.0, compare=False, repr=False)

    def __post_init__(self) -> None:
        hdr = sum(len(k) + len(v) + 4 for k, v in self.headers)
        object.__setattr__(
            self, "size", ENTRY_OVERHEAD + hdr + len(self.body) + len(self.url) + len(self.key)
        )

    @property
    def is_vary_marker(self) -> bool:
        return self.status == VARY_MARKER
