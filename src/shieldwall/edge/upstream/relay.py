"""The response side of an exchange: relaying an origin's response to the client.

``ResponseRelay`` implements ``UpstreamSink`` (``edge/upstream/protocol.py``) for the client
connection. The response head is copied through as received, with only hop-by-hop lines
spliced out (``headers.response_head_out``) and our own lines (``Via``, ``sw-request-id``, and
``connection: close`` / ``transfer-encoding: chunked`` when we change the framing, and the
filters' ``ctx.response_headers_extra`` when set) added.
The head and the first body bytes go out in one write (one ``writev`` without copying a large
body). Bodies: ``Content-Length`` bytes are written as they arrive (no copy, no parsing);
de-chunked pieces are re-chunked; an until-close body becomes chunked for HTTP/1.1 clients.

The zone's ``response`` filters run on the head before anything is written; a non-``Continue``
decision replaces the response and the origin connection is dropped (never pooled mid-body).
After ``101`` both sides become a raw tunnel.

Pooling: the upstream connection goes back to the pool only if the request was fully sent and
the connection says it is ``reusable`` (clean message boundary, keep-alive, no extra bytes).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from shieldwall.edge.cache import REPLACE
from shieldwall.edge.decision import Continue
from shieldwall.edge.pipeline import run_chain
from shieldwall.edge.upstream.answers import (
    DL_READ,
    DL_SEND,
    PAUSE_UPSTREAM,
    ExchangeState,
    header_lines,
)
from shieldwall.edge.upstream.protocol import BIG_BODY, plain_tcp_fd
from shieldwall.errors import UpstreamError, UpstreamProtocolError, UpstreamTimeout
from shieldwall.protocol.h1 import (
    F_CHUNKED,
    F_LENGTH,
    F_UNTIL_CLOSE,
    LAST_CHUNK,
    ResponseHead,
    encode_chunk,
)

if TYPE_CHECKING:
    from shieldwall.edge.cache import CacheTxn

__all__ = ["ResponseRelay"]

_CLOSE_LINE: Final = b"connection: close\r\n"
_CHUNKED_LINE: Final = b"transfer-encoding: chunked\r\n"


class ResponseRelay(ExchangeState):
    """``UpstreamSink`` of a client connection; see the module docstring."""

    _client_fd = -2  # the client socket for splice: -2 not looked up yet, -1 never (client_fd)

    # provided by OriginChoice (choice.py)
    def report_origin(self, ok: bool) -> None: ...
    def retry(self, err: UpstreamError) -> bool:
        raise NotImplementedError

    def origin_failed(self, err: UpstreamError) -> None: ...
    def cache_answer(self, txn: CacheTxn) -> None: ...

    def client_fd(self) -> int:
        """The client socket when bytes may be spliced into it (plain TCP, no TLS), else -1;
        looked up once per connection."""
        fd = self._client_fd
        if fd == -2:
            tr = self.transport
            fd = -1 if tr is None or self.info.scheme != "http" else plain_tcp_fd(tr)
            self._client_fd = fd
        return fd

    def splice_target(self) -> int:
        """The client socket when the origin may splice the rest of this response into it
        (plain TCP, nothing queued in the transport, no cache recording or HEAD-only answer,
        no re-chunking)."""
        tr = self.transport
        txn = self.txn
        if (
            (txn is not None and (txn.recording or txn.head_only))  # the cache wants the body
            or self.chunk_out
            or self.ctx is None
            or tr is None
            or tr.get_write_buffer_size()
        ):
            return -1
        return self.client_fd()

    def spliced(self, n: int) -> None:
        ctx = self.ctx
        if ctx is not None:
            ctx.bytes_out += n
        self.deadline = self.worker.loop.time() + self.zlimits.read_timeout

    def upstream_activity(self) -> None:
        self.set_deadline(DL_READ, self.zlimits.read_timeout)

    def upstream_pause(self) -> None:
        """The origin's socket buffer is full: stop reading the client, start the send clock."""
        self.pause(PAUSE_UPSTREAM)
        if self.deadline_kind != DL_READ or not self.request_done:
            self.set_deadline(DL_SEND, self.zlimits.send_timeout)

    def upstream_resume(self) -> None:
        self.resume(PAUSE_UPSTREAM)
        if self.deadline_kind == DL_SEND:
            self.sending_progress()

    def sending_progress(self) -> None:
        """The origin took request bytes: refresh the send clock (read clock once all sent)."""
        zl = self.zlimits
        if self.request_done:
            self.set_deadline(DL_READ, zl.read_timeout)
        else:
            self.set_deadline(DL_SEND, zl.send_timeout)

    def upstream_timed_out(self, what: str) -> None:
        # a connect that timed out never delivered the request: another origin may take it
        self.upstream_error(UpstreamTimeout(f"origin {what} timeout", retry_safe=what == "connect"))

    def upstream_head(self, head: ResponseHead, body: bytes | memoryview) -> None:
        ctx = self.ctx
        assert ctx is not None
        worker = self.worker
        now = worker.loop.time()
        ctx.upstream_status = status = head.status
        ctx.upstream_time = now - ctx.upstream_time
        zone = ctx.zone
        assert zone is not None
        if zone.chain.response:
            ctx.status = status
            decision = run_chain(zone.chain.response, ctx)
            if not isinstance(decision, Continue):
                self.drop_upstream()
                self.respond_decision(decision)
                return
        extra = worker.extra_prefix + ctx.request_id.encode() + b"\r\n"  # Via, request id
        more = ctx.response_headers_extra
        if more is not None:  # filters' own lines (Set-Cookie of a renewed clearance, ...)
            extra += header_lines(more)
        txn = self.txn
        head_only = False
        if txn is not None:  # the response phase of a caching zone
            if txn.on_head(status, head.raw, txn.zc.service_now()) == REPLACE:
                self.report_origin(status < 500)
                self.let_go_upstream()
                self.cache_answer(txn)  # 304 merged, or a stale copy for a 5xx
                return
            extra += txn.lines
            head_only = txn.head_only
            if body:
                txn.on_body(body if type(body) is bytes else bytes(body))  # a view is reused
        transport = self.transport
        assert transport is not None
        if head.upgrade:
            if not ctx.upgrade:
                self.upstream_error(UpstreamProtocolError("unexpected 101 from origin"))
                return
            out = b"".join((head.raw[:-2], extra, b"\r\n", body))
            ctx.status = 101
            ctx.bytes_out += len(out)
            self.response_started = True
            transport.write(out)
            self.enter_tunnel()
            return
        keep = self.keep_alive and not self.closing and not worker.draining
        framing = head.framing
        chunk_out = False
        if framing is F_LENGTH:
            pass
        elif framing is F_UNTIL_CLOSE:
            if ctx.version == b"1.1":
                chunk_out = True
                extra += _CHUNKED_LINE
            else:
                keep = False
        elif framing is F_CHUNKED:
            chunk_out = True
        self.chunk_out = chunk_out
        if not keep:
            extra += _CLOSE_LINE
            self.keep_alive = False
        ctx.status = status
        self.response_started = True
        self.deadline = now + self.zlimits.read_timeout  # the rest of the body, if any
        self.deadline_kind = DL_READ
        if head_only:  # a HEAD miss fetched the GET: the client gets the head only
            self.chunk_out = False
            body = b""
        elif chunk_out and body:
            body = encode_chunk(bytes(body))
        if len(body) < BIG_BODY:
            out = head.splice(extra, body)  # head and body in one write (a view is copied)
            ctx.bytes_out += len(out)
            transport.write(out)
        else:
            out = head.splice(extra)
            ctx.bytes_out += len(out) + len(body)
            transport.writelines((out, body))  # one writev, the body not copied

    def upstream_body(self, data: bytes | memoryview) -> None:
        ctx = self.ctx
        if ctx is None or self.transport is None:
            return
        self.deadline = self.worker.loop.time() + self.zlimits.read_timeout
        txn = self.txn
        if txn is not None:
            txn.on_body(data if type(data) is bytes else bytes(data))  # a view is reused
            if txn.head_only:
                return
        if self.chunk_out:
            if not data:
                return
            data = encode_chunk(data if isinstance(data, bytes) else bytes(data))
        ctx.bytes_out += len(data)
        self.transport.write(data)

    def upstream_end(self) -> None:
        ctx = self.ctx
        if ctx is None:
            return
        if self.chunk_out and self.transport is not None:
            self.transport.write(LAST_CHUNK)
            ctx.bytes_out += len(LAST_CHUNK)
        txn = self.txn
        if txn is not None:
            txn.on_end(txn.zc.service_now())
        if self.picked >= 0:
            self.report_origin(ctx.upstream_status < 500)
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
        self.complete(keep)

    def let_go_upstream(self) -> None:
        """The response was taken from the origin whole (or is not wanted): pool the
        connection when it sits at a clean boundary, else close it."""
        up = self.upstream
        if up is not None:
            self.upstream = None
            if self.request_done:
                self.worker.pool.release(up, self.zlimits)
            else:
                up.close()

    def upstream_error(self, err: UpstreamError) -> None:
        ctx = self.ctx
        if ctx is not None and self.picked >= 0:
            self.report_origin(False)
            if self.retry(err):
                return
        self.drop_upstream()
        if ctx is None:
            return
        if self.response_started:
            ctx.error = "upstream_error"
            self.finish_log()
            self.abort()
            return
        self.origin_failed(err)

    def upstream_error_page(self, err: UpstreamError) -> None:
        code = "upstream_timeout" if isinstance(err, UpstreamTimeout) else "upstream_error"
        if not isinstance(err, UpstreamTimeout) and err.retry_safe:
            code = "upstream_refused"
        self.respond_error(err.status, code)
