"""One request/response exchange, seen from the client connection (mixin of ``ClientConnection``).

Order of work for a request head (phases, DESIGN.md):
1. ``request_headers``: route by Host (421 when no zone), effective client IP (trusted XFF
   only), per-zone body cap from Content-Length (413), then the zone's filters; a
   non-``Continue`` decision is answered here;
2. ``cache_lookup``: hook point (``cache_lookup`` below) for the cache issue; answers nothing yet;
3. ``upstream``: take a pooled connection or open one (the only coroutine on the path), send the
   re-serialised head (exactly one framing), stream the body (``request_body``/``request_end``);
4. ``response``: the zone's response filters run on the response head before anything is sent;
5. ``log``: the finished ``RequestContext`` goes to the worker's access-log sink.

The response head is relayed as received (only hop-by-hop fields cut and our own fields added)
when it is clean; Content-Length bodies are relayed by byte count, chunked ones re-chunked.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Final

from shieldwall.config.model import OriginConfig, ServerLimits, ZoneLimits
from shieldwall.edge.context import ConnectionInfo, RequestContext
from shieldwall.edge.decision import Block, Challenge, Continue, Decision, Respond
from shieldwall.edge.errorpages import REQUEST_ID_HEADER, error_response, reason_phrase, wants_json
from shieldwall.edge.headers import RESPONSE_HOP_BY_HOP, client_ip, upstream_request_headers
from shieldwall.edge.pipeline import run_chain
from shieldwall.edge.upstream.pool import origin_key
from shieldwall.edge.upstream.protocol import UpstreamConnection
from shieldwall.errors import (
    BodyTooLarge,
    ProtocolError,
    UpstreamError,
    UpstreamProtocolError,
    UpstreamTimeout,
)
from shieldwall.protocol.h1 import (
    LAST_CHUNK,
    Framing,
    RequestHead,
    ResponseHead,
    encode_chunk,
    serialise_request_head,
)

if TYPE_CHECKING:
    from shieldwall.edge.server import Worker

__all__ = ["Exchange"]

_HTTP11: Final = b"HTTP/1.1"


def _strip_port(host: bytes) -> bytes:
    if host.startswith(b"["):
        end = host.find(b"]")
        return host[: end + 1] if end > 0 else host
    i = host.find(b":")
    return host if i < 0 else host[:i]


class Exchange:
    """Request/response state of a client connection; see the module docstring."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.info: ConnectionInfo = None  # type: ignore[assignment]  # set in connection_made
        self.ctx: RequestContext | None = None
        self.upstream: UpstreamConnection | None = None
        self.zlimits: ZoneLimits = ZoneLimits()
        self.head: RequestHead | None = None
        self.request_done = True
        self.body_started = 0.0
        self.response_started = False
        self.chunk_out = False  # re-encode the response body as chunked
        self.keep_alive = True
        self.closing = False
        self.pending: list[bytes] | None = None  # request bytes waiting for a connect

    # provided by ClientConnection
    transport: asyncio.Transport | None

    def close(self) -> None: ...
    def abort(self) -> None: ...
    def pause(self, reason: int) -> None: ...
    def resume(self, reason: int) -> None: ...
    def request_finished(self, keep_alive: bool) -> None: ...
    def enter_tunnel(self) -> None: ...
    def refresh_upstream_deadline(self, limits: ZoneLimits) -> None: ...
    def spawn_connect(self, origin: OriginConfig, limits: ZoneLimits, head: bytes) -> None: ...

    def limits(self) -> ServerLimits:
        return self.worker.holder.current.config.limits

    # -- request side ------------------------------------------------------------------------
    def start_request(self, head: RequestHead) -> None:
        worker = self.worker
        rt = worker.holder.current
        info = self.info
        info.requests += 1
        ctx = self.ctx = RequestContext(
            conn=info,
            runtime=rt,
            request_id=worker.ids.next(),
            started=worker.loop.time(),
            method=head.method,
            target=head.target,
            version=head.version,
            headers=head.headers,
            content_length=head.content_length,
            chunked=head.chunked,
            upgrade=head.upgrade is not None,
            keep_alive=head.keep_alive,
        )
        path, _, ctx.query = head.target.partition(b"?")
        ctx.path = path
        self.head = head
        self.request_done = not head.has_body
        self.body_started = 0.0
        self.response_started = False
        self.keep_alive = head.keep_alive
        assert head.host is not None
        ctx.host = _strip_port(head.host).lower().rstrip(b".").decode("latin-1")
        zone = rt.zone_for_host(ctx.host)
        if zone is None:
            self.respond_error(421, "unknown_host")
            return
        ctx.zone = zone
        ctx.client_ip = client_ip(head.headers, info.client_ip, rt)
        zl = self.zlimits = zone.config.limits
        if head.content_length is not None and head.content_length > zl.max_body_bytes:
            self.respond_error(413, "body_too_large")
            return
        chain = zone.chain.request_headers
        if chain:
            decision = run_chain(chain, ctx)
            if not isinstance(decision, Continue):
                self.respond_decision(decision)
                return
        if self.cache_lookup(ctx):
            return
        origins = zone.origins
        origin = origins[info.requests % len(origins)] if len(origins) > 1 else origins[0]
        ctx.upstream_addr = f"{origin.host}:{origin.port}"
        trusted = rt.is_trusted_proxy(info.peer_ip)
        host_out = head.host if zone.config.preserve_host else origin.host.encode()
        headers = upstream_request_headers(
            head.headers,
            connection_tokens=head.connection_tokens,
            host=host_out,
            peer_ip=info.client_ip,
            scheme=info.scheme,
            trusted_peer=trusted,
            server_name=worker.server_name,
            allow_underscore=zone.config.allow_underscore_headers,
            content_length=head.content_length,
            chunked=head.chunked,
            websocket=head.upgrade is not None,
        )
        raw = serialise_request_head(head.method, head.target, headers)
        self.refresh_upstream_deadline(zl)
        ctx.upstream_time = worker.loop.time()
        conn = worker.pool.acquire(origin_key(origin))
        if conn is not None:
            self.upstream = conn
            conn.start(self, head.method, raw)
        else:
            self.pending = []
            self.spawn_connect(origin, zl, raw)

    def cache_lookup(self, ctx: RequestContext) -> bool:
        """Hook for the cache_lookup phase: answer a fresh hit and return True."""
        return False

    async def connect_upstream(self, origin: OriginConfig, limits: ZoneLimits, head: bytes) -> None:
        try:
            conn = await self.worker.pool.connect(origin, limits)
        except UpstreamError as err:
            if self.ctx is not None and self.pending is not None:
                self.pending = None
                self.upstream_error(err)
            return
        pending = self.pending
        if pending is None or self.ctx is None:
            conn.close()  # the client went away meanwhile
            return
        self.pending = None
        self.upstream = conn
        assert self.head is not None
        conn.start(self, self.head.method, head)
        for piece in pending:
            conn.send(piece)
        self.resume(2)

    def _send_body(self, data: bytes) -> None:
        up = self.upstream
        if self.pending is not None:
            self.pending.append(data)
            if sum(map(len, self.pending)) > self.limits().read_buffer_bytes:
                self.pause(2)
        elif up is not None:
            up.send(data)

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
        self._send_body(encode_chunk(data) if self.head.chunked else data)

    def request_end(self) -> None:
        self.request_done = True
        assert self.head is not None
        if self.head.chunked and self.ctx is not None and self.ctx.zone is not None:
            self._send_body(LAST_CHUNK)

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

    def protocol_error(self, err: ProtocolError) -> None:
        """The client broke HTTP (or a limit): answer ``err.status`` if we still can, close."""
        self.closing = True
        self.keep_alive = False
        self._drop_upstream()
        if self.ctx is None or not self.response_started:
            if self.ctx is None:
                self.ctx = RequestContext(
                    conn=self.info,
                    runtime=self.worker.holder.current,
                    request_id=self.worker.ids.next(),
                    started=self.worker.loop.time(),
                )
            self.respond_error(err.status, "protocol_error", reason=err.reason)
        else:
            self.ctx.error = "protocol_error"
            self.finish_log()
            self.abort()

    # -- answers from the edge ---------------------------------------------------------------
    def respond_error(self, status: int, code: str, *, reason: str = "") -> None:
        ctx = self.ctx
        assert ctx is not None
        ctx.error = code
        close = self.closing or not self.request_done or not self.keep_alive
        accept = ctx.header(b"accept")
        data = error_response(
            status,
            ctx.request_id,
            json_body=wants_json(accept),
            server_name=self.worker.server_name_str,
            reason=reason if status in (403, 429) else "",
            close=close,
            head_only=ctx.method == b"HEAD",
        )
        self._answer(status, data, close)

    def respond_decision(self, d: Decision) -> None:
        ctx = self.ctx
        assert ctx is not None
        if isinstance(d, Respond):
            ctx.security_action = ctx.security_action or "respond"
            close = d.close or not self.request_done or not self.keep_alive
            parts = [b"HTTP/1.1 %d %s\r\n" % (d.status, reason_phrase(d.status))]
            for k, v in d.headers:
                parts += (k, b": ", v, b"\r\n")
            parts.append(b"content-length: %d\r\n" % len(d.body))
            parts += (REQUEST_ID_HEADER, b": ", ctx.request_id.encode(), b"\r\n")
            parts.append(b"connection: close\r\n\r\n" if close else b"\r\n")
            parts.append(d.body)
            self._answer(d.status, b"".join(parts), close)
        elif isinstance(d, Block):
            ctx.security_action = "block"
            ctx.security_rule, ctx.security_reason = d.rule_id, d.reason
            if d.status == 0:
                ctx.status = 0
                self.closing = True
                self.finish_log()
                self.abort()
                return
            if d.close:
                self.closing = True
            self.respond_error(d.status, "blocked", reason=d.reason)
        elif isinstance(d, Challenge):  # the challenge page is a later issue: 403 for now
            ctx.security_action = "challenge"
            ctx.security_rule, ctx.security_reason = d.rule_id, d.reason
            self.respond_error(403, "challenge", reason=d.reason or "challenge required")

    def _answer(self, status: int, data: bytes, close: bool) -> None:
        ctx = self.ctx
        assert ctx is not None
        ctx.status = status
        ctx.bytes_out += len(data)
        self.response_started = True
        if self.transport is not None:
            self.transport.write(data)
        if close:
            self.closing = True
        if self.request_done or close:
            self._complete(not close)

    def _complete(self, keep_alive: bool) -> None:
        self.finish_log()
        self.request_finished(keep_alive)

    def finish_log(self) -> None:
        ctx = self.ctx
        if ctx is None:
            return
        self.ctx = None
        self.worker.log(ctx)

    def _drop_upstream(self) -> None:
        self.pending = None
        up = self.upstream
        if up is not None:
            self.upstream = None
            up.close()

    def upstream_timed_out(self) -> None:
        self.upstream_error(UpstreamTimeout("origin read timeout"))

    # -- UpstreamSink -----------------------------------------------------------------------
    def upstream_activity(self) -> None:
        self.refresh_upstream_deadline(self.zlimits)

    def upstream_pause(self) -> None:
        self.pause(2)

    def upstream_resume(self) -> None:
        self.resume(2)

    def upstream_head(self, head: ResponseHead, body: bytes) -> None:
        ctx = self.ctx
        assert ctx is not None
        worker = self.worker
        ctx.upstream_status = head.status
        ctx.upstream_time = worker.loop.time() - ctx.upstream_time
        zone = ctx.zone
        assert zone is not None
        if zone.chain.response:
            ctx.status = head.status
            decision = run_chain(zone.chain.response, ctx)
            if not isinstance(decision, Continue):
                self._drop_upstream()
                self.respond_decision(decision)
                return
        if head.upgrade:
            if not ctx.upgrade:
                self.upstream_error(UpstreamProtocolError("unexpected 101 from origin"))
                return
            out = head.raw[:-2] + worker.response_extra(ctx.request_id) + b"\r\n" + body
            ctx.status = 101
            ctx.bytes_out += len(out)
            self.response_started = True
            assert self.transport is not None
            self.transport.write(out)
            self.enter_tunnel()
            return
        keep = self.keep_alive and not self.closing and not worker.draining
        extra = worker.response_extra(ctx.request_id)
        self.chunk_out = False
        if head.framing is Framing.UNTIL_CLOSE:
            if ctx.version == b"1.1":
                self.chunk_out = True
                extra += b"transfer-encoding: chunked\r\n"
            else:
                keep = False
        elif head.framing is Framing.CHUNKED:
            self.chunk_out = True
        if not keep:
            extra += b"connection: close\r\n"
            self.keep_alive = False
        raw = head.raw
        clean = head.version == b"1.1"
        for name, _ in head.headers:
            if name in RESPONSE_HOP_BY_HOP or name in head.connection_tokens:
                clean = False
                break
        out = raw[:-2] + extra + b"\r\n" if clean else self._rebuild_head(head, extra)
        if body:
            out += encode_chunk(body) if self.chunk_out else body
        ctx.status = head.status
        ctx.bytes_out += len(out)
        self.response_started = True
        assert self.transport is not None
        self.transport.write(out)

    @staticmethod
    def _rebuild_head(head: ResponseHead, extra: bytes) -> bytes:
        raw = head.raw
        line_end = raw.find(b"\r\n")
        parts = [_HTTP11, raw[8 : line_end + 2]]
        drop = RESPONSE_HOP_BY_HOP | frozenset(head.connection_tokens)
        for line in raw[line_end + 2 : -4].split(b"\r\n"):
            name = line[: line.find(b":")].strip().lower()
            if name not in drop:
                parts += (line, b"\r\n")
        parts += (extra, b"\r\n")
        return b"".join(parts)

    def upstream_body(self, data: bytes) -> None:
        ctx = self.ctx
        if ctx is None or self.transport is None:
            return
        if self.chunk_out:
            if not data:
                return
            data = encode_chunk(data)
        ctx.bytes_out += len(data)
        self.transport.write(data)

    def upstream_end(self) -> None:
        ctx = self.ctx
        if ctx is None:
            return
        if self.chunk_out and self.transport is not None:
            self.transport.write(LAST_CHUNK)
            ctx.bytes_out += len(LAST_CHUNK)
        up = self.upstream
        self.upstream = None
        keep = self.keep_alive
        if up is not None:
            if self.request_done and up.reusable:
                self.worker.pool.release(up, self.zlimits)
            else:
                up.close()
        if not self.request_done:
            keep = False  # the origin answered before the whole body arrived
            self.closing = True
        self._complete(keep)

    def upstream_error(self, err: UpstreamError) -> None:
        ctx = self.ctx
        self._drop_upstream()
        if ctx is None:
            return
        if self.response_started:
            ctx.error = "upstream_error"
            self.finish_log()
            self.abort()
            return
        code = "upstream_timeout" if isinstance(err, UpstreamTimeout) else "upstream_error"
        if not isinstance(err, UpstreamTimeout) and err.retry_safe:
            code = "upstream_refused"
        self.respond_error(err.status, code)
