"""The hit fast path: a pre-rendered answer per hot object, checked in a few dict probes.

A fresh hit for a plain request (no Range, no conditionals, no request Cache-Control or
Pragma) always gets the same bytes but for ``Age``, the ``ttl`` of ``Cache-Status`` (both
whole seconds) and our per-request lines (Via, request id, ``connection: close``). So a
``Hot`` record keeps the response head rendered for one second of the cache clock, without
its per-request lines and final CRLF, and the body; ``answer_parts`` splices the request's
lines in. The slow path (``CacheTxn``) answers first and ``remember`` records the object.

Validity, checked on every use (anything else falls back to the slow path, which is always
correct):

- the record is keyed by (method, scheme, host, path or target): with ``ignore_query`` the
  query is not part of the key (a cache-busting flood hits one record), with other query
  options the raw target is (conservative: more records, never a wrong one);
- zones keying on request headers or cookies, and entries with ``Vary``, never get records
  (their key depends on fields this check does not read);
- the record serves only until the entry's freshness ends (then EXPIRED/UPDATING/STALE is the
  slow path's business) and only while the store still holds this very entry (a purge, an
  eviction or a newer copy ends it: one identity check per hit, which also counts the hit
  for the store's eviction policy).

Bounds: at most ``MAX_HOT`` records per zone and config version (the table is cleared when
full; the slow path refills it).

Large bodies (``SPLICE_BODY_MIN`` and up; smaller ones go out by one writev, measured cheaper
on loopback) also get a copy in an anonymous in-memory file (``memfd``) so a plain-HTTP hit goes
out without Python copying the body: the data path writes the head into the worker's pipe,
splices the body's pages in from the memfd and splices the pipe into the socket
(``OriginChoice.splice_hit``; ``body_file`` makes the copy). These files are bounded per worker
(``MEMFD_BUDGET`` bytes, ``MEMFD_MAX`` files) and closed with their record; without room a
record simply has none and the body is written as before.

Small bodies (below ``TAIL_BODY_MAX``) are also kept joined to the head's final CRLFs
(``tail``): the whole answer is then one join of (head, request id, tail).
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Final

from shieldwall.cache import CacheEntry, CacheStatus
from shieldwall.cache.serve import serve
from shieldwall.edge.cache.render import status_lines
from shieldwall.edge.context import RequestContext
from shieldwall.edge.errorpages import reason_phrase

if TYPE_CHECKING:
    from shieldwall.edge.cache.service import ZoneCache
    from shieldwall.edge.cache.txn import CacheTxn
    from shieldwall.protocol.h1_head import HeaderBlock

__all__ = [
    "MAX_HOT",
    "SPLICE_BODY_MIN",
    "Hot",
    "HotKey",
    "hot_key",
    "memfd_usage",
    "plain_request",
    "remember",
]

MAX_HOT: Final = 4096  # hot records per zone (cleared when full)
TAIL_BODY_MAX: Final = 16 * 1024  # bodies below this are kept joined to the head's end
# request fields that change a hit's answer (conditionals, ranges, request directives)
_SPECIAL: Final = frozenset(
    {b"range", b"if-range", b"if-none-match", b"if-modified-since", b"if-match",
     b"if-unmodified-since", b"cache-control", b"pragma"}
)  # fmt: skip
_SPECIAL_RAW: Final = re.compile(rb"\r\n(?:range|if-[a-z-]+|cache-control|pragma)\s*:", re.I)

HotKey = tuple[bytes, str, str, bytes]
# bodies this large get a memfd copy to splice from; below it one writev is cheaper: 64 KB hits
# cost ~20 us of worker CPU by writev against ~25 us by write + splice + splice (wrk, loopback,
# interleaved runs); at 256 KB a syscall micro put splice about even or ahead
SPLICE_BODY_MIN: Final = 256 * 1024
MEMFD_BUDGET: Final = 64 * 1024 * 1024  # bytes in memfd copies per worker process
MEMFD_MAX: Final = 256  # memfd copies open per worker process


class _Memfds:
    """This process's memfd copies (a worker is one process with one loop)."""

    bytes = 0
    count = 0


def memfd_usage() -> tuple[int, int]:
    """(files, bytes) of memfd copies open in this process (tests, metrics)."""
    return _Memfds.count, _Memfds.bytes


class Hot:
    __slots__ = (
        "body", "entry", "fd", "fd_bytes", "head", "key", "prefix", "second", "status", "tail",
        "until",
    )  # fmt: skip

    def __init__(self, entry: CacheEntry, key: str, until: float) -> None:
        self.entry = entry
        self.key = key  # the store key of ``entry``
        self.until = until  # cache-clock time its freshness ends
        self.second = -1  # the whole second ``head`` was rendered for
        self.head = b""  # rendered head + the worker's prefix, up to the request id
        self.prefix = b""  # the worker's prefix (Via, request id name) ``head`` ends with
        self.tail = b""  # small bodies: CRLF CRLF + body (what follows the request id)
        self.body: bytes = b""
        self.status = entry.status
        self.fd = -1  # memfd holding ``body`` (see body_file), -1: none
        self.fd_bytes = 0

    def __del__(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            _Memfds.count -= 1
            _Memfds.bytes -= self.fd_bytes
            self.fd = -1

    def body_file(self) -> int:
        """A memfd with exactly ``body`` to splice from (made once), or -1 (small body, no
        room in this worker's budget, or no memfd on this system)."""
        if self.fd >= 0:
            return self.fd
        n = len(self.body)
        if n < SPLICE_BODY_MIN or _Memfds.count >= MEMFD_MAX or _Memfds.bytes + n > MEMFD_BUDGET:
            return -1
        try:
            fd = os.memfd_create("shieldwall-hot", os.MFD_CLOEXEC)
        except (AttributeError, OSError):
            return -1
        try:
            view = memoryview(self.body)
            done = 0
            while done < n:
                done += os.write(fd, view[done:])
        except OSError:
            os.close(fd)
            return -1
        self.fd, self.fd_bytes = fd, n
        _Memfds.count += 1
        _Memfds.bytes += n
        return fd

    def render(self, zc: ZoneCache, method: str, now: float, prefix: bytes) -> None:
        """Render the head for the whole second of ``now``, ending in ``prefix`` (the
        worker's lines up to the request id's value)."""
        served = serve(self.entry, method, (), now)
        lines = status_lines(CacheStatus.HIT, ttl=zc.mem.ttl(self.entry, now))
        parts = [b"HTTP/1.1 %d %s\r\n" % (served.status, reason_phrase(served.status))]
        for k, v in served.headers:
            parts += (k, b": ", v, b"\r\n")
        parts += (lines, prefix)
        self.head = b"".join(parts)
        self.prefix = prefix
        self.body = served.body.tobytes() if method == "GET" else b""
        self.tail = b"\r\n\r\n" + self.body if len(self.body) < TAIL_BODY_MAX else b""
        self.status = served.status
        self.second = int(now)


def hot_key(ctx: RequestContext, ignore_query: bool) -> HotKey:
    return (ctx.method, ctx.conn.scheme, ctx.host, ctx.path if ignore_query else ctx.target)


def plain_request(headers: list[tuple[bytes, bytes]], raw: bytes | None) -> bool:
    """No field that changes a hit's answer (read from the raw head while the list is
    unbuilt)."""
    if headers:
        return _SPECIAL.isdisjoint([k for k, _ in headers])
    return raw is not None and _SPECIAL_RAW.search(raw) is None


def plain_block(block: HeaderBlock) -> bool:
    """``plain_request`` of a header block: its list when built, else its field lines."""
    return plain_request(block.headers if block.built else [], block.tail)


def remember(zc: ZoneCache, txn: CacheTxn, now: float) -> None:
    """After a slow-path HIT for a plain request: record the object for the fast path."""
    entry = txn.entry
    if (
        entry is None
        or entry.vary_names
        or txn.collapsed
        or not zc.hot_ok
        or not plain_request(list(txn.facts.headers), None)
    ):
        return
    ttl = zc.mem.ttl(entry, now)
    if ttl <= 0:
        return
    hot = zc.hot
    if len(hot) >= MAX_HOT:
        hot.clear()
    hot[hot_key(txn.ctx, zc.ignore_query)] = Hot(entry, entry.key, now + ttl)
