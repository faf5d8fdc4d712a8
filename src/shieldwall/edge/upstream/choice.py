"""The ``cache_lookup`` phase and the origin choice of an exchange (base of ``Exchange``).

Cache phase (``cache_phase``, after the ``request_headers`` filters): a zone whose cache is
off costs one identity check per request (the compiled ``ZoneCache`` is memoised per
connection and zone). A fresh hit on a hot record (``edge/cache/hot.py``) is answered from
its pre-rendered head; a keep-alive connection repeating the very same head object (the parser
hands back its last head for byte-identical bytes) reuses the record it found last time, so
only the record's validity (fresh, still the stored entry) is checked. Otherwise one
``CacheTxn`` (``edge/cache/txn.py``) decides:

- ANSWER: a stored response, rendered as one ``bytes`` and written with one
  ``transport.write`` from the protocol callback (no task);
- WAIT: a disk lookup or a coalesced miss; ``cache_ready`` resumes the exchange from the
  callback that settles it (ANSWER or FORWARD);
- FORWARD: go to an origin with the transaction's method and headers (poison headers
  stripped, Accept-Encoding reduced, conditionals added, GET for a HEAD miss); the relay
  feeds the response back to the transaction (``relay.py``).

Origin choice (``choose_origin``, every zone): the zone's ``Balancer``
(``upstream/balancer.py``: health, weights, per-origin cap) picks an origin and the exchange
holds its in-flight slot until the request ends (``end_exchange``, from ``finish_log``).
``FULL`` queues the exchange itself as the balancer's waiter (a callback, never a task):
``slot_free`` forwards it, ``queue_timeout`` (the worker's sweep) answers a stale copy or
503 with ``Retry-After``. Outcomes are reported for passive health: connect errors, timeouts
and 5xx count as failures. A request that never reached an origin (``retry_safe``) and is
idempotent is tried on up to ``retries`` other origins, its buffered body replayed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from typing import Final

from shieldwall.cache import CacheStatus
from shieldwall.config.model import OriginConfig
from shieldwall.edge.cache import ANSWER, WAIT, CacheTxn, ZoneCache
from shieldwall.edge.cache.hot import (
    SPLICE_BODY_MIN,
    Hot,
    hot_key,
    plain_block,
    plain_request,
    remember,
)
from shieldwall.edge.context import RequestContext
from shieldwall.edge.runtime import Runtime, ZoneRuntime
from shieldwall.edge.upstream.answers import header_lines
from shieldwall.edge.upstream.balancer import FULL, Balancer
from shieldwall.edge.upstream.protocol import BIG_BODY, SPLICE_FLAGS
from shieldwall.edge.upstream.relay import ResponseRelay
from shieldwall.errors import UpstreamConnectError, UpstreamError

__all__ = ["OriginChoice"]

_CLOSE: Final = b"connection: close\r\n"
IDEMPOTENT: Final = frozenset({b"GET", b"HEAD", b"OPTIONS", b"TRACE", b"PUT", b"DELETE"})


class OriginChoice(ResponseRelay):
    """Cache phase and origin selection of a client connection; see the module docstring."""

    # per-connection memo of the zone's compiled cache and balancer (class defaults: no
    # per-instance setup cost)
    _cz_zone: ZoneRuntime | None = None
    _cz: ZoneCache | None = None
    _bz_zone: ZoneRuntime | None = None
    _bz: Balancer | None = None
    _hot_head: object = None  # the request head ``_hot`` was found for (plain, hot.py)
    _hot_zc: ZoneCache | None = None
    _hot: Hot | None = None
    trusted_peer: bool  # set by Exchange (per connection and config version)

    def forward(self) -> None: ...  # provided by Exchange: choose an origin and send

    # -- cache_lookup phase -------------------------------------------------------------
    def cache_phase(self, ctx: RequestContext, zone: ZoneRuntime, rt: Runtime) -> bool:
        """True when the cache answered or holds the request (else forward it now)."""
        if zone is self._cz_zone:
            zc = self._cz
        else:
            zc = self._cz = self.worker.services.cache.zone(rt, zone)
            self._cz_zone = zone
        if zc is None:
            return False
        head = self.head
        assert head is not None
        now = zc.service.clock()
        if zc.hot:  # the hit fast path: a pre-rendered answer (hot.py)
            # memo per connection: the very same head object (the parser hands back its last
            # head for byte-identical bytes) in the same zone cache keys the same record
            hot = self._hot
            if head is not self._hot_head or zc is not self._hot_zc or hot is None:
                hot = zc.hot.get(hot_key(ctx, zc.ignore_query))
                # no field that changes a hit's answer: once per header block
                if hot is None or not head.block.fact(plain_request, plain_block):
                    hot = None
                elif len(hot.entry.body) < SPLICE_BODY_MIN:  # (never pin a memfd copy)
                    self._hot_head, self._hot_zc, self._hot = head, zc, hot
            if hot is not None:
                if now < hot.until and zc.mem.backend.get(hot.key) is hot.entry:
                    self.hot_answer(ctx, zc, hot, now)
                    return True
                self._hot = None  # ended (expired, purged, replaced): look it up again
        txn = self.txn = CacheTxn.begin(
            zc,
            ctx,
            now,
            trusted=self.trusted_peer,
            headers=None if ctx.headers else head.headers,  # ctx.headers stays unbuilt
        )
        kind = txn.kind
        if kind is ANSWER:
            self.cache_answer(txn)
        elif kind is WAIT:
            if not self.request_done and self.pending is None:
                self.pending = []  # body bytes wait with the request
            txn.wait(self.cache_ready)
        else:
            return False
        return True

    def cache_ready(self, txn: CacheTxn) -> None:
        if txn is not self.txn or self.ctx is None:
            return  # the exchange ended meanwhile (abort was called)
        if txn.kind is ANSWER:
            self.cache_answer(txn)
        else:
            self.forward()

    def hot_answer(self, ctx: RequestContext, zc: ZoneCache, hot: Hot, now: float) -> None:
        """A fresh hit from its pre-rendered head: one write (a large body: one splice or
        one writev)."""
        worker = self.worker
        if int(now) != hot.second or hot.prefix is not worker.extra_prefix:
            hot.render(zc, "HEAD" if ctx.method == b"HEAD" else "GET", now, worker.extra_prefix)
        ctx.cache_status = "HIT"
        ctx.status = hot.status
        self.response_started = True
        close = self.closing or not self.request_done or not self.keep_alive or worker.draining
        more = ctx.response_headers_extra  # filters' lines (a renewed clearance cookie)
        transport = self.transport
        rid = ctx.request_id.encode()
        if close or more is not None:
            head = b"%s%s\r\n%s%s\r\n" % (
                hot.head,
                rid,
                b"" if more is None else header_lines(more),
                _CLOSE if close else b"",
            )
        elif hot.tail:  # the common case: head and a small body in one piece
            data = b"".join((hot.head, rid, hot.tail))
            ctx.bytes_out += len(data)
            if transport is not None:
                transport.write(data)
            self.complete(True)  # (not close: the request is done)
            return
        else:
            head = hot.head + rid + b"\r\n\r\n"
        body = hot.body
        ctx.bytes_out += len(head) + len(body)
        if transport is not None:
            if len(body) < BIG_BODY:
                transport.write(head + body)
            elif (
                len(body) < SPLICE_BODY_MIN
                or self.client_fd() < 0
                or not self.splice_hit(transport, head, hot, body)
            ):
                transport.writelines((head, body))
        if close:
            self.closing = True
        if self.request_done or close:
            self.complete(not close)

    def splice_hit(self, transport: asyncio.Transport, head: bytes, hot: Hot, body: bytes) -> bool:
        """Head and body in one push through the worker's pipe: the head written into it,
        the body's pages spliced in from the record's memfd, then pipe -> socket (no copy of
        the body in Python, one delivery). Only when nothing is queued in the transport (the
        order on the wire is the order of the calls); what the socket does not take now is
        read back and goes through the transport, then any body the pipe could not hold.
        False: not taken (no memfd or pipe, or bytes queued)."""
        src = hot.body_file()
        pipe = self.worker.pool.reads.pipe() if src >= 0 else None
        if pipe is None or transport.get_write_buffer_size():
            return False
        pw = pipe[1]
        n = len(body)
        queued = 0
        with contextlib.suppress(OSError):
            queued = os.write(pw, head)  # a head is far below the pipe's capacity
            if queued == len(head):
                queued += os.splice(src, pw, n, offset_src=0, flags=SPLICE_FLAGS)
        in_body = max(0, queued - len(head))
        rest = self.worker.pool.reads.splice_out(self._client_fd, queued)
        if rest is None:  # the pipe could not be drained: the answer is broken off
            self.abort()
            return True
        if rest:  # what the socket did not take, in order
            transport.write(rest)
        if queued < len(head):  # (the head did not fit: nothing else went)
            transport.write(head[queued:])
        if in_body < n:
            transport.write(memoryview(body)[in_body:])
        return True

    def cache_answer(self, txn: CacheTxn) -> None:
        """Answer from the cache: one write of head and body."""
        ctx = self.ctx
        served = txn.served
        assert ctx is not None and served is not None
        self.txn = None
        if txn.status is CacheStatus.HIT:
            remember(txn.zc, txn, txn.zc.service_now())
        close = self.closing or not self.request_done or not self.keep_alive
        worker = self.worker
        if worker.draining:
            close = True
        lines = worker.extra_prefix + ctx.request_id.encode() + b"\r\n"
        if ctx.response_headers_extra is not None:  # filters' lines (a renewed clearance cookie)
            lines += header_lines(ctx.response_headers_extra)
        data = txn.answer(lines, close)
        self.answer(served.status, data, close)

    # -- origin choice ------------------------------------------------------------------
    def choose_origin(self) -> OriginConfig | None:
        """The origin for this attempt (its slot acquired), or None when the exchange was
        queued or answered (saturated pool, nothing left to try)."""
        ctx = self.ctx
        assert ctx is not None
        zone = ctx.zone
        assert zone is not None
        if zone is self._bz_zone:
            bal = self._bz
            assert bal is not None
        else:
            bal = self._bz = self.worker.services.cache.balancer(zone)
            self._bz_zone = zone
        key = ""
        if bal.single and not self.tried:  # pick() and acquire() inlined: one origin
            st = bal.states[0]
            cap = bal.cap
            if not cap or st.inflight < cap:
                st.inflight += 1
                st.requests += 1
                self.picked = 0
                self.bal = bal
                return bal.origins[0]
            i = FULL
        else:
            lb = bal.config
            if lb.method == "consistent_hash":
                key = ctx.client_ip
                if lb.hash_on != "client_ip":
                    key = ctx.host + ctx.target.decode("latin-1")
            i = bal.pick(self.worker.loop.time(), key, self.tried)
        if i < 0:
            if i == FULL:
                if bal.enqueue(self, self.worker.loop.time()):
                    self.queued = bal
                    if not self.request_done and self.pending is None:
                        self.pending = []  # body bytes wait with the request
                    self.worker.services.cache.queued.add(bal)
                else:
                    self.saturated(bal)
            else:
                self.origin_failed(UpstreamConnectError("no origin left to try"))
            return None
        bal.acquire(i)
        self.picked = i
        self.bal = bal
        return bal.origins[i]

    def slot_free(self) -> None:
        """Balancer waiter: a slot was freed for us."""
        self.queued = None
        if self.ctx is not None and not self.response_started:
            self.forward()

    def queue_timeout(self) -> None:
        """Balancer waiter: no slot in ``queue_timeout``."""
        bal, self.queued = self.queued, None
        if self.ctx is not None and not self.response_started and bal is not None:
            self.saturated(bal)

    def saturated(self, bal: Balancer) -> None:
        """Every origin is at its cap: a stale copy, else 503 with Retry-After."""
        txn = self.txn
        if txn is not None and txn.on_error(txn.zc.service_now()):
            self.cache_answer(txn)
            return
        self.respond_error(
            503, "origin_saturated", extra=b"retry-after: %d\r\n" % bal.config.retry_after
        )

    def report_origin(self, ok: bool) -> None:
        """Passive health of the origin of this attempt (a success after a success, the
        common case, changes nothing: no call)."""
        bal = self.bal
        if self.picked >= 0 and bal is not None:
            if ok and not bal.states[self.picked].failures:
                return
            bal.report(self.picked, ok, self.worker.loop.time())

    def retry(self, err: UpstreamError) -> bool:
        """Try another origin: only when the request never reached one and is idempotent."""
        ctx = self.ctx
        bal = self.bal
        if (
            ctx is None
            or bal is None
            or not err.retry_safe
            or self.response_started
            or ctx.method not in IDEMPOTENT
            or len(self.tried) >= bal.config.retries
            or len(bal.origins) < 2
            or (self.pending is None and not self.request_done)
        ):
            return False
        picked, self.picked = self.picked, -1
        self.tried += (picked,)
        up = self.upstream
        if up is not None:
            self.upstream = None
            up.close()
        replay = list(self.pending) if self.pending is not None else None
        self.pending = replay
        bal.release(picked)
        self.forward()
        return True

    def origin_failed(self, err: UpstreamError) -> None:
        """No origin answered (before any response byte): a stale copy or an error page."""
        txn = self.txn
        if txn is not None and txn.on_error(txn.zc.service_now()):
            self.drop_upstream()
            self.cache_answer(txn)
            return
        self.upstream_error_page(err)

    def end_exchange(self) -> None:
        """The request is over (``finish_log``): free the origin slot, leave the queue, end
        the cache transaction (a no-op once it settled)."""
        bal = self.bal
        if self.picked >= 0 and bal is not None:
            picked, self.picked = self.picked, -1
            bal.release(picked)
        queued = self.queued
        if queued is not None:
            self.queued = None
            queued.cancel(self)
        txn = self.txn
        if txn is not None:
            self.txn = None
            txn.abort()
        self.tried = ()
