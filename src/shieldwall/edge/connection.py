"""The client side of the HTTP/1.1 data path: one ``asyncio.Protocol`` per client connection.

Theory of operation
-------------------
Everything is driven from protocol callbacks; the only coroutine on the request path opens a new
upstream connection on a pool miss. States (``_IDLE`` between requests, ``_BUSY`` while one
request is in flight, ``_TUNNEL`` after a WebSocket 101, ``_CLOSED``); transitions:

    IDLE --head--> BUSY --response end, keep-alive--> IDLE
    IDLE/BUSY --error/close--> CLOSED          BUSY --101--> TUNNEL --either side closes--> CLOSED
    IDLE --the head of a held refusal again (refuse_again)--> IDLE

The last one is the flood case (a client hammering past its rate limit on a keep-alive
connection): the held 429 is written with the request's own id and counted by the metrics
alone (``Worker.quick_log``), with no context and no request cycle, while the memo and the
log phase allow (``Exchange.repeat_answer`` otherwise).

Requests are answered strictly one at a time, in order. Bytes of pipelined requests are parsed
(``RequestParser`` queues their events) but not acted on until the response before them is
complete; reading pauses once ``read_buffer_bytes`` are queued ahead or ``max_pipelined``
events wait.

Backpressure: the client's write buffer full -> pause reading the origin; the origin's write
buffer full (or a connect in progress with ``read_buffer_bytes`` buffered) -> pause reading the
client. Reading is paused while any reason holds (a bit mask).

Timers: no timer per connection. The worker's one periodic sweep calls ``check(now)``, which
compares ``deadline`` (set at each transition: idle timeout, header deadline from the first byte
of a head, upstream read timeout refreshed by origin activity) and the minimum request body rate.

A client that half-closes (FIN) while a request is in flight still gets its response; then the
connection is closed (``eof``), never parked half-open until the idle timeout. A client that
stops reading is bounded by ``ServerLimits.client_send_timeout``: from ``pause_writing`` (our
write buffer above its high-water mark) or from a close that still has bytes to flush, the
sweep aborts it once the limit passes (``send_stalled_since``).

Errors the client sees are branded pages (``errorpages``); framing errors close the connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from typing import TYPE_CHECKING, Any, Final, cast

from shieldwall.config.model import ListenerConfig
from shieldwall.edge.context import ConnectionInfo
from shieldwall.edge.upstream.answers import (
    DL_CONNECT,
    DL_HEAD,
    DL_IDLE,
    DL_NONE,
    DL_READ,
    DL_SEND,
    PAUSE_UPSTREAM,
    Refusal,
)
from shieldwall.edge.upstream.exchange import Exchange
from shieldwall.errors import BadRequest, ProtocolError
from shieldwall.protocol.h1 import END, RequestHead, RequestParser
from shieldwall.protocol.proxy import MAX_PROXY_HEADER_BYTES, ProxyHeader, parse_proxy_header

if TYPE_CHECKING:
    from shieldwall.edge.server import Worker

__all__ = ["ClientConnection"]

_IDLE, _BUSY, _TUNNEL, _CLOSED = range(4)
# why reading is paused (bit mask)
PAUSE_PIPELINE: Final = 1  # too much queued ahead of the request being answered
_GRACEFUL_CLOSE: Final = struct.pack("ii", 0, 0)  # SO_LINGER off: close() sends FIN after data
_TIMEOUT_NAMES: Final = {DL_CONNECT: "connect", DL_SEND: "send", DL_READ: "read"}


class ClientConnection(Exchange, asyncio.Protocol):
    def __init__(self, worker: Worker, listener: ListenerConfig) -> None:
        # Only what a refused connection needs (``connection_lost`` follows the abort): the
        # exchange state and the parser are built in ``connection_made`` once the peer is
        # admitted, so a banned client costs no parser and no request state.
        self.worker = worker
        self.listener = listener
        self.transport: asyncio.Transport | None = None
        self.client_hello: Any = None
        self.proxy_header: ProxyHeader | None = None
        self.state = _IDLE
        self.counted_ip: str | None = None
        self.ctx = None
        self.upstream = None

    # -- TLS hook ------------------------------------------------------------------------
    def set_client_hello(self, info: Any) -> None:
        """Called by the TLS layer before ``connection_made`` (attrs: sni, alpn, ja4)."""
        self.client_hello = info

    def set_proxy_header(self, header: ProxyHeader) -> None:
        """Called by the TLS layer (before ``connection_made``) with a PROXY header it read
        from a trusted peer: its source is the client address."""
        self.proxy_header = header

    # -- asyncio.Protocol ------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = self.transport = cast(asyncio.Transport, transport)  # uvloop: no subclass
        worker = self.worker
        peer = transport.get_extra_info("peername")
        ip = peer[0] if peer else "unknown"
        if worker.is_banned(ip):  # phase "connection", the flood case: one dict probe
            worker.refused += 1
            self.state = _CLOSED
            transport.abort()  # a reset: plain listeners set SO_LINGER 0 (server.py)
            return
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family != socket.AF_UNIX:
            # anyone else gets an orderly close (FIN after our bytes), as before the ban set
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _GRACEFUL_CLOSE)
        if not worker.admit(ip):  # the caps (admit counts its refusals)
            self.state = _CLOSED
            transport.abort()
            return
        Exchange.__init__(self, worker)
        listener = self.listener
        # the TLS server reads a PROXY header itself; plain listeners read it here
        self.expect_proxy = listener.proxy_protocol and not listener.tls
        self.paused = 0
        self.ahead = 0  # bytes received while the current request is waiting for its answer
        self.eof = False  # the client half-closed: answer what it sent, then close
        # loop time since which the client has not taken our bytes (0: it has); see check()
        self.send_stalled_since = 0.0
        self._proxy_buf: bytearray | None = None
        limits = worker.holder.current.config.limits
        self.parser = RequestParser(
            max_header_bytes=limits.max_header_bytes,
            max_header_count=limits.max_header_count,
            max_uri_bytes=limits.max_uri_bytes,
        )
        port = peer[1] if peer else 0
        self.counted_ip = ip
        worker.connections.add(self)
        if sock is not None and sock.family != socket.AF_UNIX:
            with contextlib.suppress(OSError):  # not TCP: nothing to tune
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        transport.set_write_buffer_limits(limits.write_buffer_high, limits.write_buffer_low)
        local = transport.get_extra_info("sockname")
        now = worker.loop.time()
        info = self.info = ConnectionInfo(
            peer_ip=ip,
            peer_port=port,
            client_ip=ip,
            client_port=port,
            local_port=local[1] if local else 0,
            accepted_at=now,
        )
        hello = self.client_hello
        if hello is not None or transport.get_extra_info("ssl_object") is not None:
            info.scheme = "https"
            ssl_obj = transport.get_extra_info("ssl_object")
            if ssl_obj is not None:
                info.tls_alpn = ssl_obj.selected_alpn_protocol()
                info.tls_version = ssl_obj.version()
            if hello is not None:
                info.tls_sni = hello.sni
                info.ja4 = hello.ja4
        if self.proxy_header is not None:
            self._apply_proxy_header(self.proxy_header)
        if self.expect_proxy:
            self._proxy_buf = bytearray()
            self.deadline = now + limits.header_timeout
            self.deadline_kind = DL_HEAD
        else:
            self.deadline = now + limits.idle_timeout
            self.deadline_kind = DL_IDLE

    def data_received(self, data: bytes) -> None:
        state = self.state
        if state == _TUNNEL:
            up = self.upstream
            if up is not None:
                up.send(data)
            return
        if self._proxy_buf is not None:
            self._on_proxy_bytes(data)
            return
        parser = self.parser
        if state == _IDLE:
            head = parser.parse_fast(data)
            if head is not None:  # one whole bodiless head: no events, no queue
                if head is self._rep_head:
                    quick = self._quick
                    if quick is not None and self.refuse_again(head, quick):
                        return  # a held refusal given again: answered and logged, still idle
                self.state = _BUSY
                self.deadline_kind = DL_NONE
                self.ahead = 0
                self.start_request(head)
                return
            if self.deadline_kind != DL_HEAD:
                self.set_deadline(DL_HEAD, self.limits().header_timeout)
            parser.feed(data)
            self.process_events()
        elif state == _BUSY:
            parser.feed(data)
            if self.request_done:
                self.ahead += len(data)
                limits = self.limits()
                if self.ahead > limits.read_buffer_bytes or len(parser.events) > (
                    limits.max_pipelined * 3
                ):
                    self.pause(PAUSE_PIPELINE)
            else:
                self.process_events()

    def refuse_again(self, head: RequestHead, r: Refusal) -> bool:
        """The same head again on an idle connection whose memo holds a ready refusal
        (``Exchange.repeat_answer``) and whose log phase needs no context (``Refusal``):
        answer it with its own id and log it (``Worker.quick_log``), staying idle, without
        the exchange's request cycle. False (nothing done) whenever ``repeat_answer`` might
        decide otherwise or the log phase needs a context (the access log is on): the
        ordinary way then."""
        worker = self.worker
        now = worker.loop.time()
        if (
            r.prev is not self._rep_ctx
            or now >= self._rep_until
            or r.runtime is not worker.holder.current
            or self.closing
            or self.eof
            or self.paused
            or worker.draining
        ):
            return False
        sink = worker.access_log
        if sink is None:
            return False
        if sink.log is not r.log:  # the log phase changed (the access log turned on or off)
            r.log = sink.log
            r.record = worker.quick_log(r.model)
        record = r.record
        if record is None:
            return False
        tr = self.transport
        assert tr is not None
        self.info.requests += 1
        data = b"".join((r.prefix, worker.ids.next().encode(), r.suffix))
        tr.write(data)
        self.head = head
        record(now, len(data))
        # what request_finished does for a kept-alive connection with nothing queued
        self.deadline_kind = DL_IDLE
        self.deadline = now + r.idle
        return True

    def _on_proxy_bytes(self, data: bytes) -> None:
        """A listener with ``proxy_protocol``: the header is required and always consumed,
        but believed only from a trusted peer (the same rule as ``edge/tls.py``)."""
        buf = self._proxy_buf
        assert buf is not None
        buf += data
        try:
            parsed = parse_proxy_header(bytes(buf))
        except BadRequest:
            self.close()  # no answer: the peer does not speak our protocol
            return
        if parsed is None:
            if len(buf) > MAX_PROXY_HEADER_BYTES:
                self.close()
            return
        header, used = parsed
        if self.worker.holder.current.is_trusted_proxy(self.info.peer_ip):
            self._apply_proxy_header(header)
        rest = bytes(buf[used:])
        self._proxy_buf = None
        self.set_deadline(DL_IDLE, self.limits().idle_timeout)
        if rest:
            self.data_received(rest)

    def _apply_proxy_header(self, header: ProxyHeader) -> None:
        if header.src_ip is not None:
            self.info.client_ip = header.src_ip
            self.info.client_port = header.src_port

    def eof_received(self) -> bool | None:
        if self.state == _TUNNEL and self.upstream is not None and self.upstream.transport:
            self.upstream.transport.write_eof() if self.upstream.transport.can_write_eof() else None
            return True
        if self.state == _BUSY:
            self.eof = True  # half-close: deliver the response, then close (request_finished)
            return True
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self.state = _CLOSED
        worker = self.worker
        if self.counted_ip is not None:
            worker.release(self.counted_ip)
            self.counted_ip = None
            worker.connections.discard(self)
        up = self.upstream
        if up is not None:
            self.upstream = None
            up.close()
        if self.ctx is not None:
            self.ctx.error = self.ctx.error or "client_closed"
            if not self.ctx.status:
                self.ctx.status = 499
            self.finish_log()

    def pause_writing(self) -> None:
        self.send_stalled_since = self.worker.loop.time()
        up = self.upstream
        if up is not None and up.transport is not None:
            up.transport.pause_reading()

    def resume_writing(self) -> None:
        self.send_stalled_since = 0.0
        up = self.upstream
        if up is not None and up.transport is not None:
            up.transport.resume_reading()
            if self.deadline_kind == DL_READ:  # the wait was the client's, not the origin's
                self.set_deadline(DL_READ, self.zlimits.read_timeout)

    # -- reading control ------------------------------------------------------------------
    def pause(self, reason: int) -> None:
        if not self.paused and self.transport is not None:
            self.transport.pause_reading()
        self.paused |= reason

    def resume(self, reason: int) -> None:
        if self.paused & reason:
            self.paused &= ~reason
            if not self.paused and self.transport is not None and self.state != _CLOSED:
                self.transport.resume_reading()

    # -- request loop -----------------------------------------------------------------------
    def process_events(self) -> None:
        """Act on queued parser events until one request is in flight and fully read."""
        events = self.parser.events
        while events and self.state != _CLOSED:
            ev = events[0]
            if self.state == _IDLE:
                events.popleft()
                if isinstance(ev, RequestHead):
                    if not ev.has_body and events and events[0] is END:
                        events.popleft()  # llhttp queues a bodiless END with its head
                    self.state = _BUSY
                    self.deadline_kind = DL_NONE
                    self.ahead = 0
                    self.start_request(ev)
                elif isinstance(ev, ProtocolError):
                    self.protocol_error(ev)
                    return
                # stray END/body cannot happen in IDLE: the parser orders events
            elif self.state == _BUSY:
                if self.request_done:
                    return
                events.popleft()
                if isinstance(ev, bytes):
                    self.request_body(ev)
                elif ev is END:
                    self.request_end()
                elif isinstance(ev, ProtocolError):
                    self.protocol_error(ev)
                    return
            else:
                return

    def request_finished(self, keep_alive: bool) -> None:
        """The response is complete (called by ``Exchange``)."""
        worker = self.worker
        if not keep_alive or self.closing or worker.draining:
            self.close()
            return
        if self.state != _BUSY:
            return
        parser = self.parser
        self.ahead = 0
        if not (parser.events or parser.in_head or self.eof or self.paused):
            self.state = _IDLE  # the common case: wait for the next request
            self.deadline_kind = DL_IDLE
            self.deadline = worker.loop.time() + worker.holder.current.config.limits.idle_timeout
            return
        if self.eof and not parser.events:
            self.close()  # nothing more can arrive: a half-closed peer is never reused
            return
        self.state = _IDLE
        if self.paused:
            self.resume(PAUSE_PIPELINE | PAUSE_UPSTREAM)
        if parser.events:
            self.set_deadline(DL_HEAD, self.limits().header_timeout)
            self.process_events()
        elif parser.in_head:
            self.set_deadline(DL_HEAD, self.limits().header_timeout)
        else:
            self.deadline_kind = DL_IDLE
            self.deadline = worker.loop.time() + worker.holder.current.config.limits.idle_timeout

    def enter_tunnel(self) -> None:
        self.state = _TUNNEL
        self.closing = True  # whichever side ends the tunnel ends the connection
        self.deadline_kind = DL_NONE
        self.resume(PAUSE_PIPELINE | PAUSE_UPSTREAM)
        data = bytes(self.parser.tunnel_data)
        self.parser.tunnel_data.clear()
        if data and self.upstream is not None:
            self.upstream.send(data)

    def close(self) -> None:
        tr = self.transport
        if tr is not None and self.state != _CLOSED:
            if tr.get_write_buffer_size() and not self.send_stalled_since:
                self.send_stalled_since = self.worker.loop.time()  # the flush is bounded too
            tr.close()  # flushes what was written, then connection_lost
        self.state = _CLOSED
        self.closing = True

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def send_timed_out(self) -> None:
        """The client left our bytes unread for ``client_send_timeout``: give up on it (the
        origin connection goes too, as it is mid-response)."""
        ctx = self.ctx
        if ctx is not None:
            ctx.error = "client_send_timeout"
        self.drop_upstream()
        self.abort()

    @property
    def idle(self) -> bool:
        return self.state == _IDLE and not self.parser.in_head and not self.parser.events

    # -- timers (called by the worker's sweep) ----------------------------------------------
    def check(self, now: float) -> None:
        stalled = self.send_stalled_since
        if stalled and now - stalled > self.limits().client_send_timeout:
            self.send_timed_out()
            return
        kind = self.deadline_kind
        busy_body = self.state == _BUSY and not self.request_done and self.body_started
        if busy_body and self.body_too_slow(now):
            return
        if kind == DL_NONE or now < self.deadline:
            return
        if kind == DL_IDLE:
            self.close()
        elif kind == DL_HEAD:
            if self._proxy_buf is not None:
                self.close()  # no PROXY header in time: nothing HTTP to answer
            else:
                self.protocol_error(ProtocolError("request head timeout", status=408))
        elif self.state == _BUSY:
            tr = self.transport
            if (
                kind == DL_READ
                and tr is not None
                and tr.get_write_buffer_size() > self.limits().write_buffer_low
            ):
                return  # the client is the slow side; the origin is waiting on us
            self.deadline_kind = DL_NONE
            self.upstream_timed_out(_TIMEOUT_NAMES[kind])
