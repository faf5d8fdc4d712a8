"""The request side of an exchange (base of ``ClientConnection``): route, filter, forward.

Order of work for a request head (phases, DESIGN.md):
1. ``request_headers``: route by Host (421 when no zone), HTTPS redirect for the zone
   (``ZoneConfig.https_redirect``: 308 to ``https://host/target``), effective client IP
   (trusted X-Forwarded-For only), per-zone body cap from Content-Length (413), then the
   zone's filters; a non-``Continue`` decision is answered here (``answers.py``);
1b. ``request_body`` (zones with body filters, e.g. the WAF): a body of at most
   ``ZoneLimits.inspect_body_bytes`` (Content-Length, or chunked while it stays under) is held
   back until its end, set as ``ctx.body_sample`` and judged by the filters (a non-``Continue``
   is answered instead of forwarding), then forwarded from the buffer. Larger bodies stream
   through uninspected (a chunked body that outgrows the cap goes on with what was held).
   Zones without body filters never buffer;
2. ``cache_lookup``: the zone's cache answers, holds (coalescing, disk) or lets the request
   through (``choice.py``);
3. ``upstream``: the zone's balancer picks an origin (``choice.py``); take a pooled connection
   or open one (the only coroutine on the path, and only on a pool miss), send the
   origin-bound head as one ``bytes`` (exactly one framing), stream the body
   (``request_body``/``request_end``); the response comes back through ``relay.py``.

Speed: a fast-path head from an untrusted peer is forwarded as the client's own bytes with the
dropped lines cut by offset and our forwarding lines appended (``splice_request_head``); the
per-connection memo remembers Host -> zone, the origin, the forwarding tail and the last spliced
head, so a keep-alive connection repeating itself does almost no work. ``ctx.headers`` is built
only when the zone has filters (``ctx.header()`` reads ``raw_head`` meanwhile). The same
connection repeating the same head also gets its ``request_headers`` outcome again (a pass, or
a held 429) without running the filters, when they all promised it may and none declined for
that request (``pipeline.repeatable``: nothing counted, matched or logged; one memo per
connection, at most ``REPEAT_MAX_S``). A held refusal is given again by ``repeat_answer``
(a context modelled on the first one's, logged like any other); from its second repeat on,
while only the metrics log requests, by ``ClientConnection.refuse_again`` without a context.

Trust: the peer whose X-Forwarded-* we may believe is the one that sent the HTTP bytes, i.e.
``ConnectionInfo.client_ip`` (after a PROXY header from a trusted load balancer, that is the
client behind it, not the balancer). ``trusted_peer`` caches the answer per connection and
config version, so ``ipaddress`` is not on the per-request path.
"""

from __future__ import annotations

from typing import Final

from shieldwall.config.model import OriginConfig, ZoneConfig, ZoneLimits
from shieldwall.edge.context import RequestContext
from shieldwall.edge.decision import CONTINUE, Continue, Decision
from shieldwall.edge.errorpages import ReadyAnswer
from shieldwall.edge.headers import (
    client_ip,
    forwarding_tail,
    splice_request_head,
    upstream_request_head,
)
from shieldwall.edge.pipeline import REPEAT_MAX_S, run_chain
from shieldwall.edge.runtime import Runtime, ZoneRuntime
from shieldwall.edge.upstream.answers import (
    DL_CONNECT,
    DL_READ,
    DL_SEND,
    END_KEEP,
    PAUSE_UPSTREAM,
    Refusal,
)
from shieldwall.edge.upstream.choice import OriginChoice
from shieldwall.edge.upstream.pool import OriginKey, origin_key
from shieldwall.errors import BodyTooLarge, ProtocolError, UpstreamError
from shieldwall.protocol.h1 import LAST_CHUNK, RequestHead, encode_chunk

__all__ = ["Exchange"]

_HOST_BYTES: Final = b"abcdefghijklmnopqrstuvwxyz0123456789.-"
_SCHEMES: Final = {"http": b"http", "https": b"https"}
_CONTINUE: Final = b"HTTP/1.1 100 Continue\r\n\r\n"  # RFC 9110 section 10.1.1


def _strip_port(host: bytes) -> bytes:
    if host.startswith(b"["):
        end = host.find(b"]")
        return host[: end + 1] if end > 0 else host
    i = host.find(b":")
    return host if i < 0 else host[:i]


def _origin_form(target: bytes) -> bytes:
    """The path-and-query of a request target (absolute-form reduced; ``*`` -> ``/``)."""
    if target.startswith(b"/"):
        return target
    i = target.find(b"://")
    if i > 0:
        j = target.find(b"/", i + 3)
        k = target.find(b"?", i + 3)
        if j < 0 or (0 <= k < j):
            return b"/" + target[k:] if k >= 0 else b"/"
        return target[j:]
    return b"/"


class Exchange(OriginChoice):
    """Request side of a client connection; see the module docstring."""

    trust_version = -1
    trusted_peer = False
    # per-connection caches: a keep-alive connection nearly always repeats Host and origin
    _host_raw: bytes | None = None
    _host_rt: Runtime | None = None
    _host_str = ""
    _host_zone: ZoneRuntime | None = None
    _origin: OriginConfig | None = None
    _origin_zc: ZoneConfig | None = None  # the zone config ``_origin``'s memo was made for
    _origin_addr = ""
    _origin_host = b""  # the origin's host, the Host we send unless preserve_host
    _host_line: bytes | None = None
    _origin_key: OriginKey = ("", 0, False)
    _tail_host: bytes | None = None
    _tail_rt: Runtime | None = None
    _tail = b""
    # (client head bytes, runtime, zone config, origin, the origin-bound head made of them)
    _spliced: tuple[bytes, Runtime, ZoneConfig, OriginConfig, bytes] | None = None
    # the repeated-head memo (``pipeline.repeatable``): the head, zone and outcome of the last
    # request whose filters said it may be given again, until ``_rep_until`` (loop time)
    _rep_head: RequestHead | None = None
    _rep_zone: ZoneRuntime | None = None
    _rep_until = 0.0
    _rep_decision: Decision = CONTINUE
    _rep_security: tuple[str, str, str] = ("", "", "")
    # ... and when that outcome is a ready-made answer (a held 429) to a keep-alive head: the
    # context of the request that got it first, the model of the repeats' (``repeat_answer``)
    _rep_ctx: RequestContext | None = None
    # ... and from its first repeat on, that refusal ready to be given without a context
    # (``ClientConnection.refuse_again``) while the memo holds
    _quick: Refusal | None = None
    # phase ``request_body``: the body pieces held back for inspection (None: not inspecting)
    inspecting: list[bytes] | None = None
    inspected = 0  # bytes in ``inspecting``

    def start_request(self, head: RequestHead) -> None:
        if head is self._rep_head and self._rep_ctx is not None and self.repeat_answer(head):
            return
        worker = self.worker
        rt = worker.holder.current
        info = self.info
        info.requests += 1
        target = head.target
        now = worker.loop.time()
        host = head.host
        assert host is not None
        if host == self._host_raw and rt is self._host_rt:
            host_str = self._host_str
            zone = self._host_zone
        else:
            host_str = _strip_port(host).lower().rstrip(b".").decode("latin-1")
            zone = rt.zone_for_host(host_str)
            self._host_raw, self._host_rt = host, rt
            self._host_str, self._host_zone = host_str, zone
            if self.trust_version != rt.version:  # (the memo above is per runtime too)
                self.trusted_peer = rt.is_trusted_proxy(info.client_ip)
                self.trust_version = rt.version
        q = target.find(b"?")
        block = head.block
        lazy = self.lazy_headers = not block.built
        # positional, in field order: conn .. keep_alive (cheaper than keywords + defaults)
        ctx = self.ctx = RequestContext(
            info,
            rt,
            worker.ids.next(),
            now,
            head.method,
            target,
            target if q < 0 else target[:q],
            b"" if q < 0 else target[q + 1 :],
            head.version,
            [] if lazy else block.headers,
            host_str,
            info.client_ip,
            zone,
            head.content_length,
            head.chunked,
            head.upgrade is not None,
            head.keep_alive,
        )
        ctx.block = block
        if lazy:
            ctx.raw_head = head.raw  # header() works before (or without) the list
        self.head = head
        self.request_done = not (head.chunked or head.content_length)  # head.has_body
        self.body_started = 0.0
        self.response_started = False
        self.keep_alive = head.keep_alive
        if zone is None:
            self.respond_error(421, "unknown_host")
            return
        zl = self.zlimits = zone.config.limits
        # the same head as last time on this connection, whose filters' outcome may be given
        # again (``pipeline.repeatable``): neither the filters nor their header list are needed
        replay = head is self._rep_head and zone is self._rep_zone and now < self._rep_until
        if (not zone.plain or self.trusted_peer or not self.request_done) and self.before_filters(
            ctx, head, zone, lazy and not replay
        ):
            return  # answered: HTTPS redirect, 413
        if replay:
            decision = self._rep_decision
            if decision is not CONTINUE:
                ctx.security_action, ctx.security_rule, ctx.security_reason = self._rep_security
                self.respond_decision(decision)
                return
        else:
            phase = zone.request_filter  # the request_headers phase (one callable)
            if phase is not None:
                if zone.repeatable:
                    ctx.repeat = REPEAT_MAX_S
                    decision = phase(ctx)
                    if ctx.repeat > 0.0 and self.request_done:
                        self._rep_head, self._rep_zone = head, zone
                        self._rep_until = now + ctx.repeat
                        self._rep_decision = decision
                        self._rep_security = (
                            ctx.security_action,
                            ctx.security_rule,
                            ctx.security_reason,
                        )
                        ready = (
                            type(decision) is ReadyAnswer
                            and not decision.close
                            and head.keep_alive
                            and ctx.response_headers_extra is None
                        )
                        self._rep_ctx = ctx if ready else None
                else:
                    decision = phase(ctx)
                if decision is not CONTINUE and not isinstance(decision, Continue):
                    self.respond_decision(decision)
                    return
        if self.inspecting is not None:
            self.inspecting = None  # (a request that never finished its body)
        if (
            not self.request_done
            and zone.chain.request_body
            and (head.content_length is None or head.content_length <= zl.inspect_body_bytes)
        ):
            self.inspecting = []  # phase request_body: hold the body back until its end
            self.inspected = 0
            self.body_started = now  # the minimum body rate guards the wait for it
            expect = ctx.header(b"expect")
            if expect is not None and expect.lower() == b"100-continue" and self.transport:
                self.transport.write(_CONTINUE)  # the client waits for it before its body
            return
        # a zone known (per connection) to have no cache skips the cache phase's call
        if (zone is not self._cz_zone or self._cz is not None) and self.cache_phase(ctx, zone, rt):
            return
        self.forward()

    def repeat_answer(self, head: RequestHead) -> bool:
        """The same head again, whose filters' outcome was a ready-made answer (a held 429,
        ``pipeline.repeatable``): that answer again with this request's own id, logged like any
        other (metrics, security events, access log), without the request's phases. False
        when the memo has lapsed (time, a reload, a closing connection): the ordinary way."""
        worker = self.worker
        now = worker.loop.time()
        prev = self._rep_ctx
        assert prev is not None
        if now >= self._rep_until or prev.runtime is not worker.holder.current:
            self._rep_ctx = None  # lapsed: the ordinary way, which may remember anew
            return False
        if self.closing or worker.draining or self.transport is None:
            return False
        d = self._rep_decision
        assert isinstance(d, ReadyAnswer)
        self.info.requests += 1
        rid = worker.ids.next()
        data = d.wire(rid.encode(), END_KEEP, prev.method == b"HEAD")
        # positional, as in start_request: the first request's fields, this one's id and time
        ctx = self.ctx = RequestContext(
            prev.conn,
            prev.runtime,
            rid,
            now,
            prev.method,
            prev.target,
            prev.path,
            prev.query,
            prev.version,
            prev.headers,
            prev.host,
            prev.client_ip,
            prev.zone,
            prev.content_length,
            prev.chunked,
            prev.upgrade,
            prev.keep_alive,
        )
        ctx.raw_head = prev.raw_head
        ctx.block = prev.block
        ctx.security_action, ctx.security_rule, ctx.security_reason = self._rep_security
        self.head = head
        self.request_done = True
        self.keep_alive = True
        self.answer(d.status, data, False)
        quick = self._quick
        if quick is None or quick.prev is not prev:  # the next repeats without a context
            sink = worker.access_log
            log = worker.quick_log(ctx)
            self._quick = Refusal(
                prev,
                ctx,
                d,
                prev.runtime.config.limits.idle_timeout,
                sink.log if sink is not None else None,
                log,
            )
        return True

    def before_filters(
        self, ctx: RequestContext, head: RequestHead, zone: ZoneRuntime, lazy: bool
    ) -> bool:
        """What ``start_request`` checks before the filters when the zone or the request is
        not plain (``ZoneRuntime.plain``, a trusted peer, a body): HTTPS redirect, the
        client address from a trusted X-Forwarded-For, the body cap (413), the header list
        for filters that read it. True when the request was answered here."""
        info = self.info
        rt = ctx.runtime
        if zone.config.https_redirect and info.scheme == "http":
            self.redirect_https(ctx, ctx.target)
            return True
        if self.trusted_peer and rt.config.trusted_proxies.use_x_forwarded_for:
            ctx.client_ip = client_ip(self.ensure_headers(), info.client_ip, rt.is_trusted_proxy)
        if head.content_length is not None and head.content_length > self.zlimits.max_body_bytes:
            self.respond_error(413, "body_too_large")
            return True
        if lazy and zone.needs_list:
            self.ensure_headers()  # filters read ctx.headers (ZoneRuntime.needs_list)
        return False

    def end_inspection(self, ctx: RequestContext, complete: bool) -> None:
        """The held body is complete (``request_body`` filters judge ``ctx.body_sample``), or
        a chunked body outgrew ``inspect_body_bytes`` (it streams on uninspected); then the
        request goes on with the held bytes queued in front of the rest."""
        buf, self.inspecting = self.inspecting, None
        head, zone = self.head, ctx.zone
        assert buf is not None and head is not None and zone is not None
        body = b"".join(buf)
        if complete:
            ctx.body_sample = body
            decision = run_chain(zone.chain.request_body, ctx)
            if not isinstance(decision, Continue):
                self.respond_decision(decision)
                return
        if head.chunked:
            body = (encode_chunk(body) if body else b"") + (LAST_CHUNK if complete else b"")
        self.pending = [body] if body else []
        if self.cache_phase(ctx, zone, ctx.runtime):
            return
        self.forward()

    def forward(self) -> None:
        """Phase ``upstream``: send the request to the origin the balancer picks (again after
        a failover or a queue wait; a buffered body is replayed)."""
        origin = self.choose_origin()
        if origin is None:
            return  # queued for a slot, or answered
        ctx = self.ctx
        head = self.head
        assert ctx is not None and head is not None
        zone = ctx.zone
        assert zone is not None
        zc = zone.config
        rt = ctx.runtime
        if origin is not self._origin or zc is not self._origin_zc:
            self._origin, self._origin_zc = origin, zc
            self._origin_addr = f"{origin.host}:{origin.port}"
            self._origin_key = origin_key(origin)
            self._origin_host = origin.host.encode()
            self._host_line = b"\r\nhost: " + self._origin_host
        ctx.upstream_addr = self._origin_addr
        txn = self.txn
        method = head.method if txn is None else txn.method  # GET for a cache's HEAD miss
        memo = self._spliced
        if (
            txn is None
            and memo is not None
            and memo[0] is head.raw
            and memo[1] is rt
            and memo[2] is zc
            and memo[3] is origin
        ):
            raw = memo[4]  # the same client bytes to the same origin: the same origin bytes
        else:
            raw = self.origin_head(head, rt, zc, origin)
        worker = self.worker
        now = worker.loop.time()
        ctx.upstream_time = now
        zl = self.zlimits
        conn = worker.pool.acquire(self._origin_key)
        if conn is not None:
            self.upstream = conn
            if self.request_done:
                self.deadline_kind = DL_READ
                self.deadline = now + zl.read_timeout
            else:
                self.deadline_kind = DL_SEND
                self.deadline = now + zl.send_timeout
            conn.start(self, method, raw)
            pending = self.pending
            if pending is not None:  # body read while queued or before a failover
                self.pending = None
                for piece in pending:
                    conn.send(piece)
                self.resume(PAUSE_UPSTREAM)
        else:
            pending = self.pending
            if pending is None:
                pending = self.pending = []
            self.set_deadline(DL_CONNECT, zl.connect_timeout)
            worker.spawn(self.connect_upstream(origin, zl, raw, method, pending))

    def origin_head(
        self, head: RequestHead, rt: Runtime, zc: ZoneConfig, origin: OriginConfig
    ) -> bytes:
        """The head we send the origin: the client's bytes spliced (an untrusted peer, no
        cache transaction; remembered in ``_spliced`` for the next identical head), else
        re-serialised from the header list."""
        info = self.info
        worker = self.worker
        if zc.preserve_host:
            sent_host = head.host
            assert sent_host is not None
            host_line = None
        else:
            sent_host = self._origin_host
            host_line = self._host_line
        trusted = self.trusted_peer
        txn = self.txn
        if txn is None and head.raw is not None and not trusted:
            if sent_host != self._tail_host or rt is not self._tail_rt:
                self._tail_host, self._tail_rt = sent_host, rt
                self._tail = forwarding_tail(
                    info.client_ip, _SCHEMES[info.scheme], sent_host, worker.via
                )
            raw = splice_request_head(head, host_line, self._tail, zc.allow_underscore_headers)
            self._spliced = (head.raw, rt, zc, origin, raw)
            return raw
        method, headers = head.method, head.headers
        if txn is not None:  # the cache's view: poison stripped, conditionals, GET for HEAD
            method, headers = txn.method, txn.headers
        return upstream_request_head(
            method,
            head.target,
            headers,
            connection_tokens=head.connection_tokens,
            host=sent_host,
            peer_ip=info.client_ip,
            scheme=_SCHEMES[info.scheme],
            trusted_peer=trusted,
            via=worker.via,
            allow_underscore=zc.allow_underscore_headers,
            content_length=head.content_length,
            chunked=head.chunked,
            websocket=head.upgrade is not None,
        )

    def redirect_https(self, ctx: RequestContext, target: bytes) -> None:
        host = ctx.host.encode("latin-1")
        if not host or host.translate(None, _HOST_BYTES):
            self.respond_error(400, "bad_host")  # never redirect to a host we cannot vouch for
            return
        location = b"https://" + host + _origin_form(target)
        self.respond_plain(308, ((b"location", location),), b"")

    async def connect_upstream(
        self,
        origin: OriginConfig,
        limits: ZoneLimits,
        head: bytes,
        method: bytes,
        pending: list[bytes],
    ) -> None:
        """Open a connection for this attempt; ``pending`` (the attempt's body buffer) tells
        whether the exchange still waits for it (a failover or an end replaces it)."""
        try:
            conn = await self.worker.pool.connect(origin, limits)
        except UpstreamError as err:
            if self.ctx is not None and self.pending is pending:
                self.upstream_error(err)  # failover (the buffer is replayed) or an answer
            return
        if self.pending is not pending or self.ctx is None:
            conn.close()  # the client went away (or timed out, or failed over) meanwhile
            return
        self.pending = None
        self.upstream = conn
        self.sending_progress()
        conn.start(self, method, head)
        for piece in pending:
            conn.send(piece)
        self.resume(PAUSE_UPSTREAM)

    def _send_body(self, data: bytes) -> None:
        up = self.upstream
        if self.pending is not None:
            self.pending.append(data)
            if sum(map(len, self.pending)) > self.limits().read_buffer_bytes:
                self.pause(PAUSE_UPSTREAM)
        elif up is not None:
            up.send(data)
            if self.deadline_kind == DL_SEND:
                self.deadline = self.worker.loop.time() + self.zlimits.send_timeout

    def request_body(self, data: bytes) -> None:
        ctx = self.ctx
        assert ctx is not None and self.head is not None
        if not self.body_started:
            self.body_started = self.worker.loop.time()
        ctx.bytes_in += len(data)
        if ctx.bytes_in > self.zlimits.max_body_bytes:
            self.protocol_error(BodyTooLarge("request body too large"))
            return
        if ctx.zone is None or self.response_started:
            return  # answered already; the body is read and dropped
        held = self.inspecting
        if held is not None:
            held.append(data)
            self.inspected += len(data)
            if self.inspected > self.zlimits.inspect_body_bytes:
                self.end_inspection(ctx, False)
            return
        self._send_body(encode_chunk(data) if self.head.chunked else data)

    def request_end(self) -> None:
        self.request_done = True
        assert self.head is not None
        ctx = self.ctx
        if ctx is None or ctx.zone is None or self.response_started:
            return
        if self.inspecting is not None:
            self.end_inspection(ctx, True)
            return
        if self.head.chunked:
            self._send_body(LAST_CHUNK)
        if self.pending is None and self.deadline_kind == DL_SEND and not self.paused:
            self.set_deadline(DL_READ, self.zlimits.read_timeout)

    def body_too_slow(self, now: float) -> bool:
        zl = self.zlimits
        elapsed = now - self.body_started
        ctx = self.ctx
        if (
            ctx is None
            or elapsed < zl.body_rate_grace
            or ctx.bytes_in >= zl.min_body_rate * elapsed
        ):
            return False
        self.protocol_error(ProtocolError("request body too slow", status=408))
        return True
