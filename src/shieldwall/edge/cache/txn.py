"""``CacheTxn``: one request's walk through the ``cache_lookup`` and ``response`` phases.

The data path talks to the cache only through this object (the narrow interface)::

    zc = services.cache.zone(ctx.zone)          # None: the zone does not cache (pays nothing)
    txn = CacheTxn.begin(zc, ctx, now)          # sets ctx.cache_status
    txn.kind == ANSWER  -> transport.write(txn.answer(extra, close))     (one write, no task)
    txn.kind == WAIT    -> txn.wait(callback)   # later: callback(txn) with ANSWER or FORWARD
    txn.kind == FORWARD -> send txn.method + txn.headers to the origin, then feed the relay:
        txn.on_head(status, raw_head, now) -> RELAY (add txn.lines to the head; when
                                              txn.head_only, write no body) | REPLACE
                                              (drop the origin, write txn.answer(...))
        txn.on_body(data); txn.on_end(now)  # stores a complete, storable response
        txn.on_error(now) -> bytes-able stale answer available (ANSWER) or not
        txn.abort()                         # client gone / exchange abandoned

States and transitions (``kind``): ``WAIT -> ANSWER | FORWARD``; ``FORWARD -> ANSWER``
(304 merged = REVALIDATED, origin 5xx/down with an entry that may be served = STALE).

Theory:

- HIT / STALE (client max-stale) / UPDATING are answered from the entry. UPDATING starts one
  background refresh per key (``refresh.py``).
- MISS and EXPIRED are coalesced per primary key (``Coalescer.join``): the leader forwards,
  followers wait (``coalesce_timeout``) for its outcome, an entry they serve themselves with
  their own conditionals/Range/HEAD; when the leader's response turns out uncacheable (decided
  at its head) followers are released at once to forward themselves; when the leader fails,
  followers look the cache up again before leading (colleague's note in ``coalesce.py``).
- EXPIRED revalidates with the entry's validators; a 304 is merged (``update_from_304``).
- HEAD misses fetch a GET (so the answer can be stored) and write no body to the client.
- Requests carrying Range or conditionals on a miss are forwarded as they are, unrecorded
  and uncoalesced (their answer, a 206/304, is not a storable full response).
- Poison headers are stripped and ``Accept-Encoding`` is reduced (``br|gzip|identity``) on
  every forwarded request, so the origin's answer matches the variant the key selects.
- Recording stops (stream through, uncached) once a body exceeds ``max_object_size``.
- Unsafe methods invalidate the request URL (and Location/Content-Location) after 2xx/3xx.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from enum import Enum
from typing import Final

from shieldwall.cache import (
    CacheEntry,
    CacheStatus,
    RequestFacts,
    ResponseFacts,
    Served,
    StoreDecision,
    normalize_accept_encoding,
    strip_poison_headers,
)
from shieldwall.cache.coalesce import Coalescer, Outcome
from shieldwall.cache.engine import Lookup
from shieldwall.cache.status import Forward
from shieldwall.edge.cache.render import facts_from, head_fields, render, status_lines
from shieldwall.edge.cache.service import ZoneCache
from shieldwall.edge.context import RequestContext

__all__ = ["ANSWER", "FORWARD", "RELAY", "REPLACE", "WAIT", "CacheTxn", "Kind"]


class Kind(Enum):
    ANSWER = "answer"
    FORWARD = "forward"
    WAIT = "wait"


ANSWER, FORWARD, WAIT = Kind.ANSWER, Kind.FORWARD, Kind.WAIT
RELAY: Final = 0  # on_head: relay the origin's response (plus txn.lines)
REPLACE: Final = 1  # on_head: drop the origin; answer with txn.answer(...)

_UNSAFE: Final = frozenset({"POST", "PUT", "DELETE", "PATCH"})
_PASS_FIELDS: Final = frozenset(
    {b"range", b"if-range", b"if-none-match", b"if-modified-since", b"if-match",
     b"if-unmodified-since"}
)  # fmt: skip
# forwarding fields a trusted proxy sets for us (its chain, not a client's override)
_TRUSTED_KEEP: Final = frozenset({b"forwarded", b"x-forwarded-host"})
_MAX_FOLLOWER_ROUNDS: Final = 3  # leader failures a follower sits through before going direct

Entry = tuple[CacheEntry, CacheStatus]  # what a leader shares with its followers


class CacheTxn:
    __slots__ = (
        "_body",
        "_body_len",
        "_callback",
        "_co",
        "_decision",
        "_fut",
        "_keep",
        "_resp",
        "_rounds",
        "_timer",
        "collapsed",
        "ctx",
        "entry",
        "facts",
        "fwd",
        "head_only",
        "headers",
        "key",
        "kind",
        "method",
        "recording",
        "served",
        "started",
        "status",
        "stored",
        "zc",
    )

    def __init__(self, zc: ZoneCache, ctx: RequestContext, facts: RequestFacts) -> None:
        self.zc = zc
        self.ctx = ctx
        self.facts = facts
        self.kind = FORWARD
        self.status = CacheStatus.BYPASS
        self.entry: CacheEntry | None = None  # stored entry (stale candidate / to serve)
        self.served: Served | None = None
        self.key = ""
        self.method = ctx.method
        self.headers: list[tuple[bytes, bytes]] = facts.headers  # type: ignore[assignment]
        self.head_only = False
        self.recording = False
        self.collapsed = False
        self.stored = False
        self.fwd: Forward | None = None
        self.started = 0.0
        self._co: Coalescer[Entry] | None = None
        self._fut: asyncio.Future[Outcome[Entry]] | None = None
        self._callback: Callable[[CacheTxn], None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._rounds = 0
        self._keep: frozenset[bytes] = frozenset()
        self._body: list[bytes | memoryview] = []
        self._body_len = 0
        self._resp: ResponseFacts | None = None
        self._decision: StoreDecision | None = None

    # -- cache_lookup phase ------------------------------------------------------------
    @classmethod
    def begin(
        cls,
        zc: ZoneCache,
        ctx: RequestContext,
        now: float,
        *,
        trusted: bool = False,
        headers: list[tuple[bytes, bytes]] | None = None,
    ) -> CacheTxn:
        """``trusted``: the peer is a trusted proxy, whose forwarding fields are kept;
        ``headers``: the request's header list when ``ctx.headers`` is left unbuilt."""
        txn = cls(zc, ctx, facts_from(ctx, headers=headers))
        txn.started = now
        if trusted:
            txn._keep = _TRUSTED_KEEP
        method = txn.facts.method
        if method not in ("GET", "HEAD"):
            txn._forward(CacheStatus.BYPASS, record=method in _UNSAFE, fwd="method")
            return txn
        look = zc.mem.lookup(txn.facts, now)
        disk = zc.disk
        # the disk index is in memory: a definite miss never costs an executor round trip
        if look.entry is None and disk is not None and look.key in disk.backend:
            txn.kind = WAIT
            txn.status = CacheStatus.MISS
            zc.disk_lookup(txn.facts, now, txn._disk_done)
            return txn
        txn._looked(look, now)
        return txn

    def _disk_done(self, look: Lookup) -> None:
        self._looked(look, self.zc.service_now())
        self._wake()

    def _looked(self, look: Lookup, now: float) -> None:
        self.key = look.key
        entry, status = look.entry, look.status
        self.entry = entry
        if entry is not None and status in (
            CacheStatus.HIT,
            CacheStatus.STALE,
            CacheStatus.UPDATING,
        ):
            self._serve(entry, status, now)
            if status is CacheStatus.UPDATING:
                self.zc.refresh(self.facts, entry, look.key)
            return
        if any(k in _PASS_FIELDS for k, _ in self.facts.headers):
            self._forward(status, record=False, fwd="request")
            return
        self._coalesce(status, now)

    def _coalesce(self, status: CacheStatus, now: float) -> None:
        co: Coalescer[Entry] = self.zc.service.coalescer
        role, fut = co.join(self.key)
        if role == "follower" and fut is not None:
            self.kind = WAIT
            self.status = status
            self._co, self._fut = co, fut
            fut.add_done_callback(self._followed)
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self.zc.config.coalesce_timeout, self._follow_timeout)
            return
        if role == "leader":
            self._co, self._fut = co, fut
        self._forward(status, record=True)

    def _forward(self, status: CacheStatus, *, record: bool, fwd: Forward | None = None) -> None:
        self.kind = FORWARD
        self.status = status
        self.fwd = fwd
        self.recording = record
        self.ctx.cache_status = status.value
        headers = strip_poison_headers(self.facts.headers, self._keep)
        if self.facts.method in ("GET", "HEAD"):
            ae = [v for k, v in headers if k == b"accept-encoding"]
            headers = [(k, v) for k, v in headers if k != b"accept-encoding"]
            headers.append((b"accept-encoding", normalize_accept_encoding(b",".join(ae) or None)))
            if record and self.facts.method == "HEAD":
                self.method, self.head_only = b"GET", True
            if record and self.entry is not None and status is CacheStatus.EXPIRED:
                headers.extend(self.zc.mem.build_revalidation_headers(self.entry))
        self.headers = headers

    def _serve(self, entry: CacheEntry, status: CacheStatus, now: float) -> None:
        self.kind = ANSWER
        self.status = status
        self.entry = entry
        self.served = self.zc.mem.serve(entry, self.facts, now)
        self.ctx.cache_status = status.value

    # -- waiting (disk lookups, coalescing followers) ---------------------------------
    def wait(self, callback: Callable[[CacheTxn], None]) -> None:
        """``callback(self)`` once ``kind`` is ANSWER or FORWARD (maybe right away)."""
        if self.kind is not WAIT:
            callback(self)
        else:
            self._callback = callback

    def _wake(self) -> None:
        if self.kind is WAIT:
            return
        cb, self._callback = self._callback, None
        if cb is not None:
            cb(self)

    def _followed(self, fut: asyncio.Future[Outcome[Entry]]) -> None:
        if self.kind is not WAIT or self._fut is not fut:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._fut = None
        outcome = fut.result()
        now = self.zc.service_now()
        if outcome.value is not None and outcome.cacheable:
            entry, status = outcome.value
            self.collapsed = True
            self._serve(entry, status if status is CacheStatus.STALE else CacheStatus.HIT, now)
        elif outcome.failed and self._rounds < _MAX_FOLLOWER_ROUNDS:
            self._rounds += 1
            self._looked(self.zc.mem.lookup(self.facts, now), now)  # re-check, then lead
        else:
            self._forward(CacheStatus.MISS, record=outcome.failed, fwd="uri-miss")
        self._wake()

    def _follow_timeout(self) -> None:
        self._timer = None
        if self.kind is WAIT:
            self._fut = None
            self._forward(self.status, record=False)
            self._wake()

    # -- response phase (fed by the relay) ---------------------------------------------
    def _settle(self, value: Entry | None, *, cacheable: bool, failed: bool = False) -> None:
        co, fut = self._co, self._fut
        if co is not None and fut is not None and self.kind is not WAIT:
            self._co = self._fut = None
            co.finish(self.key, fut, value, cacheable=cacheable, failed=failed)

    def on_head(self, status: int, raw: bytes, now: float) -> int:
        fields = head_fields(raw)
        resp = self._resp = ResponseFacts(status, fields, self.started, now)
        entry = self.entry
        if entry is not None and self.status is CacheStatus.EXPIRED:
            if status == 304:
                updated = self.zc.revalidated(entry, resp)
                if updated is not None:
                    self._serve(updated, CacheStatus.REVALIDATED, now)
                    self._settle((updated, CacheStatus.HIT), cacheable=True)
                    return REPLACE
            elif status >= 500 and self.zc.mem.stale_if_error_ok(entry, now):
                self._serve(entry, CacheStatus.STALE, now)
                self._settle((entry, CacheStatus.STALE), cacheable=True)
                return REPLACE
        if self.recording and self.facts.method in ("GET", "HEAD"):
            facts = self.facts if not self.head_only else self._get_facts()
            d = self.zc.mem.should_store(facts, resp, now)
            if d.store:
                self._decision = d
            else:
                self.recording = False
                if self.status in (CacheStatus.MISS, CacheStatus.EXPIRED):
                    self.status = CacheStatus.DYNAMIC
                    self.ctx.cache_status = self.status.value
                self._settle(None, cacheable=False)
        return RELAY

    def _get_facts(self) -> RequestFacts:
        f = self.facts
        return RequestFacts("GET", f.scheme, f.host, f.path, f.query, f.headers)

    @property
    def lines(self) -> bytes:
        """Our status lines for a relayed response head."""
        return status_lines(self.status, fwd=self.fwd, collapsed=self.collapsed)

    def on_body(self, data: bytes | memoryview) -> None:
        if not self.recording or self._decision is None:
            return
        self._body_len += len(data)
        if self._body_len > self.zc.config.max_object_size:
            self.recording = False
            self._body.clear()
            self._settle(None, cacheable=False)
            return
        self._body.append(data)

    def on_end(self, now: float) -> None:
        resp = self._resp
        if resp is None:
            self._settle(None, cacheable=False, failed=True)
            return
        if self.facts.method in _UNSAFE:
            if self.recording and 200 <= resp.status < 400:
                self.zc.invalidate(self.facts, resp)
            return
        d = self._decision
        if not self.recording or d is None:
            self._settle(None, cacheable=False)
            return
        body = b"".join(self._body)
        self._body.clear()
        facts = self._get_facts()
        entry = self.zc.store(facts, resp, body, now, d, self._settle_stored)
        if entry is not None:
            self.stored = True
            self._settle((entry, CacheStatus.HIT), cacheable=True)

    def _settle_stored(self, entry: CacheEntry | None) -> None:
        """Disk-only objects: followers learn the outcome when the disk write lands."""
        self.stored = entry is not None
        self._settle(
            (entry, CacheStatus.HIT) if entry is not None else None, cacheable=entry is not None
        )

    def on_error(self, now: float) -> bool:
        """The origin failed (unreachable, timeout, broken). True: ``answer`` a stale copy."""
        entry = self.entry
        if entry is not None and self.zc.mem.stale_if_error_ok(entry, now):
            self._serve(entry, CacheStatus.STALE, now)
            self._settle((entry, CacheStatus.STALE), cacheable=True)
            return True
        self._settle(None, cacheable=False, failed=True)
        return False

    def abort(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._callback = None
        if self.kind is WAIT:
            self._fut = None
            self.kind = FORWARD
        self._settle(None, cacheable=False, failed=True)

    # -- answers ------------------------------------------------------------------------
    def answer(self, extra: bytes, close: bool) -> bytes:
        """The whole response from the cache (head + body) as one ``bytes``."""
        served = self.served
        entry = self.entry
        assert served is not None and entry is not None
        now = self.zc.service_now()
        ttl = self.zc.mem.ttl(entry, now)
        lines = status_lines(
            self.status, ttl=ttl, collapsed=self.collapsed,
            fwd="stale" if self.status is CacheStatus.REVALIDATED else None,
        )  # fmt: skip
        return render(served, lines, extra, close, self.facts.method == "HEAD")
