"""Exchange state and the answers the edge gives itself (base of ``ClientConnection``).

``ExchangeState`` holds what one request/response exchange on a client connection knows
(context, request head, upstream connection, flags) and the answers that do not involve an
origin: branded error pages (``respond_error``), filter decisions (``respond_decision``:
``Respond``; ``Block``, with its own ``headers`` on the branded page or its own ``body``
instead of it; ``Challenge``, rendered by ``Worker.render_challenge``, the shield's hook, or a
plain 403 without one), redirects, and the reaction to a client protocol error.

Invariant: exactly one ``_answer``/relayed response per request; ``finish_log`` runs once per
request (it clears ``ctx``), and after an answer that must close (``close=True``) the connection
closes once the bytes are flushed.

Upstream deadline kinds (``DL_*``; compared by ``ClientConnection.check`` on the worker's
sweep): ``DL_CONNECT`` from the start of a connect (``ZoneLimits.connect_timeout``),
``DL_SEND`` while request bytes are still going to the origin (``send_timeout``, refreshed
whenever the origin takes bytes), ``DL_READ`` once the request is sent (``read_timeout``,
refreshed by every origin read).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Final

from shieldwall.config.model import ServerLimits, ZoneLimits
from shieldwall.edge.context import ConnectionInfo, RequestContext
from shieldwall.edge.decision import Block, Challenge, Decision, Respond
from shieldwall.edge.errorpages import ReadyAnswer, error_response, plain_head, wants_json
from shieldwall.edge.upstream.protocol import UpstreamConnection
from shieldwall.errors import ProtocolError
from shieldwall.protocol.h1 import RequestHead

if TYPE_CHECKING:
    from shieldwall.edge.cache import CacheTxn
    from shieldwall.edge.server import Worker
    from shieldwall.edge.upstream.balancer import Balancer

__all__ = [
    "DL_CONNECT",
    "DL_HEAD",
    "DL_IDLE",
    "DL_NONE",
    "DL_READ",
    "DL_SEND",
    "ExchangeState",
    "Refusal",
    "header_lines",
]

# deadline kinds
DL_IDLE, DL_HEAD, DL_CONNECT, DL_SEND, DL_READ, DL_NONE = range(6)
# the end of a plain answer's head after the request id
END_KEEP: Final = b"\r\n\r\n"  # the end of an edge answer's head (request id line) on keep-alive
_END_CLOSE: Final = b"\r\nconnection: close\r\n\r\n"
PAUSE_UPSTREAM: Final = 2  # ClientConnection's pause reason: the origin is not taking bytes


class Refusal:
    """A held refusal (``Exchange.repeat_answer``) ready to be given again to the same head
    with no context at all (``ClientConnection.refuse_again``): the answer's bytes around
    the request id, the connection's idle timeout, and the log phase of one more request:
    ``record(started, bytes_out)`` from ``Worker.quick_log``, made for the sink's ``log``
    (None while that log phase needs a context per request). ``prev`` is the memo's first
    context (the refusal holds only while the connection's memo is that one); ``model`` the
    context of its first repeat, which every later repeat equals but for id, start and
    bytes out. The answer's bytes are ``ReadyAnswer.wire``'s, joined around the id
    (``tests/shield/test_repeat_refusal`` compares them with the general path's)."""

    __slots__ = ("idle", "log", "model", "prefix", "prev", "record", "runtime", "suffix")

    def __init__(
        self,
        prev: RequestContext,
        model: RequestContext,
        answer: ReadyAnswer,
        idle: float,
        log: Callable[[RequestContext], None] | None,
        record: Callable[[float, int], None] | None,
    ) -> None:
        self.prev = prev
        self.model = model
        self.runtime = prev.runtime
        # ``answer.wire(request_id, END_KEEP, head_only)`` is prefix + request_id + suffix
        self.prefix = answer.head
        self.suffix = END_KEEP if prev.method == b"HEAD" else END_KEEP + answer.body
        self.idle = idle
        self.log = log
        self.record = record


def header_lines(headers: Sequence[tuple[bytes, bytes]]) -> bytes:
    """``name: value\r\n`` lines of a head (names and values as the filter gave them)."""
    return b"".join(k + b": " + v + b"\r\n" for k, v in headers)


class ExchangeState:
    """Request/response state of a client connection and the edge's own answers."""

    # cache phase and origin choice (``choice.py``); class defaults, set per request only
    # when used, cleared by ``end_exchange``
    txn: CacheTxn | None = None  # the request's cache transaction
    picked = -1  # balancer index of the origin whose in-flight slot we hold
    bal: Balancer | None = None  # the balancer of ``picked``
    tried: tuple[int, ...] = ()  # origins this request failed on (failover excludes them)
    queued: Balancer | None = None  # waiting in this balancer's queue for a slot

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
        self.deadline = 0.0
        self.deadline_kind = DL_NONE
        self.lazy_headers = False  # ctx.headers not built yet from the head's bytes

    # provided by ClientConnection
    transport: asyncio.Transport | None
    paused: int  # reasons reading the client is paused (bit mask)

    def close(self) -> None: ...
    def abort(self) -> None: ...
    def pause(self, reason: int) -> None: ...
    def resume(self, reason: int) -> None: ...
    def request_finished(self, keep_alive: bool) -> None: ...
    def enter_tunnel(self) -> None: ...
    def end_exchange(self) -> None: ...

    def limits(self) -> ServerLimits:
        return self.worker.holder.current.config.limits

    def set_deadline(self, kind: int, seconds: float) -> None:
        self.deadline = self.worker.loop.time() + seconds
        self.deadline_kind = kind

    def ensure_headers(self) -> list[tuple[bytes, bytes]]:
        """``ctx.headers`` of the current request, built from the head's bytes on first use
        (the fast path leaves them unbuilt while nothing needs them)."""
        ctx = self.ctx
        assert ctx is not None
        if self.lazy_headers:
            self.lazy_headers = False
            if self.head is not None:
                ctx.headers = self.head.headers
        return ctx.headers

    def new_context(self) -> RequestContext:
        worker = self.worker
        self.lazy_headers = False
        return RequestContext(
            conn=self.info,
            runtime=worker.holder.current,
            request_id=worker.ids.next(),
            started=worker.loop.time(),
        )

    def protocol_error(self, err: ProtocolError) -> None:
        """The client broke HTTP (or a limit): answer ``err.status`` if we still can, close."""
        self.closing = True
        self.keep_alive = False
        self.drop_upstream()
        if self.ctx is None or not self.response_started:
            if self.ctx is None:
                self.ctx = self.new_context()
            self.respond_error(err.status, "protocol_error", reason=err.reason)
        else:
            self.ctx.error = "protocol_error"
            self.finish_log()
            self.abort()

    def respond_error(
        self, status: int, code: str, *, reason: str = "", extra: bytes = b""
    ) -> None:
        ctx = self.ctx
        assert ctx is not None
        ctx.error = code
        # (no header list needed: ctx.header() reads the raw head while it is unbuilt)
        close = self.closing or not self.request_done or not self.keep_alive
        txn = self.txn
        if txn is not None:
            extra += txn.lines  # every answer of a caching zone says what the cache did
        if ctx.response_headers_extra is not None:
            extra += header_lines(ctx.response_headers_extra)
        data = error_response(
            status,
            ctx.request_id,
            json_body=wants_json(ctx.header(b"accept")),
            server_name=self.worker.server_name_str,
            reason=reason if status in (403, 429) else "",
            close=close,
            head_only=ctx.method == b"HEAD",
            extra=extra,
        )
        self.answer(status, data, close)

    def respond_decision(self, d: Decision) -> None:
        ctx = self.ctx
        assert ctx is not None
        if isinstance(d, Respond):
            ctx.security_action = ctx.security_action or "respond"
            if type(d) is ReadyAnswer and ctx.response_headers_extra is None:
                # rendered once: splice the request id (respond_plain's bytes exactly)
                close = d.close or self.closing or not self.request_done or not self.keep_alive
                end = _END_CLOSE if close else END_KEEP
                data = d.wire(ctx.request_id.encode(), end, ctx.method == b"HEAD")
                self.answer(d.status, data, close)
                return
            self.respond_plain(d.status, d.headers, d.body, close=d.close)
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
            if d.body is not None:  # the filter's own page
                ctx.error = "blocked"
                self.respond_plain(d.status, d.headers, d.body, close=d.close)
                return
            self.respond_error(d.status, "blocked", reason=d.reason, extra=header_lines(d.headers))
        elif isinstance(d, Challenge):
            ctx.security_action = "challenge"
            ctx.security_rule, ctx.security_reason = d.rule_id, d.reason
            render = self.worker.render_challenge
            page = render(ctx, d) if render is not None else None
            if page is None:  # no shield to render the page: a plain 403
                self.respond_error(403, "challenge", reason=d.reason or "challenge required")
                return
            ctx.error = ctx.error or "challenge"
            self.respond_plain(page.status, page.headers, page.body, close=page.close)

    def respond_plain(
        self,
        status: int,
        headers: tuple[tuple[bytes, bytes], ...],
        body: bytes,
        *,
        close: bool = False,
    ) -> None:
        ctx = self.ctx
        assert ctx is not None
        close = close or self.closing or not self.request_done or not self.keep_alive
        head = plain_head(status, headers, len(body), ctx.response_headers_extra)
        parts = [head, ctx.request_id.encode(), _END_CLOSE if close else END_KEEP]
        if ctx.method != b"HEAD":
            parts.append(body)
        self.answer(status, b"".join(parts), close)

    def answer(self, status: int, data: bytes, close: bool) -> None:
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
            self.complete(not close)

    def complete(self, keep_alive: bool) -> None:
        ctx = self.ctx
        if ctx is not None:  # finish_log, inlined: once per request
            self.lazy_headers = False
            self.ctx = None
            self.worker.log(ctx)
            if self.txn is not None or self.picked >= 0 or self.queued is not None or self.tried:
                self.end_exchange()
        self.request_finished(keep_alive)

    def finish_log(self) -> None:
        ctx = self.ctx
        if ctx is None:
            return
        # (end-of-request readers use ctx.header(), which reads raw_head while the list is
        # unbuilt; log filters got the list at the start)
        self.lazy_headers = False
        self.ctx = None
        self.worker.log(ctx)
        if self.txn is not None or self.picked >= 0 or self.queued is not None or self.tried:
            self.end_exchange()

    def drop_upstream(self) -> None:
        self.pending = None
        up = self.upstream
        if up is not None:
            self.upstream = None
            up.close()
