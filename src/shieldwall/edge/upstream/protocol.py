"""One TCP connection to an origin, driven from protocol callbacks (no task per request).

Theory of operation
-------------------
An ``UpstreamConnection`` serves one exchange at a time for a ``sink`` (the client connection).
The sink writes the request head and body with ``send``; the origin's bytes come back through
``data_received``, which finds the response head (``find_head_end``), validates it with a fresh
``ResponseParser`` and then delimits the body by its framing:

- ``LENGTH``: raw bytes are relayed by count, never parsed or copied (the fast path);
- ``CHUNKED``: bytes are de-chunked by the parser and re-encoded by the sink (trailers dropped);
- ``UNTIL_CLOSE``: everything until EOF; never reusable;
- after ``101`` the connection is a raw tunnel in both directions.

Reuse rule: the connection goes back to the pool only when the response ended exactly at a
message boundary, the origin asked for keep-alive, the request was fully sent, and no byte
arrived beyond the response. Anything else (framing error, truncated body, extra bytes, an
interim error) sets ``reusable = False`` and the connection is closed.

Flow control: ``pause_writing``/``resume_writing`` of this transport are forwarded to the sink
(which pauses reading the client); the sink pauses this transport's reading when the client's
write buffer is full.

Reading (``asyncio.BufferedProtocol``): uvloop reads straight into the worker's ``ReadBuffer``,
shared by all its origin connections (each read is handled before the next one happens). A
response head is copied out (it is parsed and cached by its bytes); a ``LENGTH`` body goes to
the sink as a view of the buffer, so a 64 KB body is never copied in Python. A view outlives
the read only when the client's transport keeps it (a partial write): the connection checks
``sink.transport.get_write_buffer_size()`` after handing one over and then retires the buffer
(later reads get a fresh one; the old one lives on in the view); a body under ``BIG_BODY``
that came with its head is not checked, as ``upstream_head`` sends it joined to the head (a
copy). A response head the worker saw last (``ResponseHeadCache.last``) is recognised by a
prefix compare, without searching for its end or copying it. Everything else (a head split
across reads, chunked, until-close, tunnel) is copied to ``bytes`` and takes ``data_received``.
The sink copies a view it keeps (the cache's recording).

Splice: between plain TCP sockets, the first read of a response takes at most
``HEAD_READ_BYTES``; when at least ``SPLICE_MIN`` bytes of a ``LENGTH`` body remain and the
client side agrees (``sink.splice_target()``: plain TCP, nothing queued in its transport, no
cache recording, no re-chunking), what has already arrived goes origin socket -> the worker's
pipe -> client socket with ``splice(2)``, never entering Python. What the client socket does
not take at once is read back from the pipe and written through the transport, in order; the
rest of the body, arriving later, takes the ordinary reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import socket
from typing import Final, Protocol

from shieldwall.errors import UpstreamError, UpstreamProtocolError
from shieldwall.protocol.h1 import (
    F_CHUNKED,
    F_LENGTH,
    F_NO_BODY,
    ResponseHead,
    ResponseHeadCache,
    ResponseParser,
    find_head_end,
)

__all__ = ["UpstreamConnection", "UpstreamSink"]

MAX_RESPONSE_HEAD: Final = 64 * 1024  # bytes of response head before the origin is "invalid"

# validated response heads of this worker, by their bytes (see ``ResponseHeadCache``)
HEADS: Final = ResponseHeadCache()
BIG_BODY: Final = 16 * 1024  # body pieces at least this large are passed as views, not copied
READ_BYTES: Final = 256 * 1024  # one read from an origin at most (uvloop's own read size)
HEAD_READ_BYTES: Final = 16 * 1024  # a response's first read on a plain TCP origin
SPLICE_MIN: Final = 16 * 1024  # body bytes left after the first read that are worth a splice
PIPE_BYTES: Final = 256 * 1024  # capacity asked for the splice pipe
SPLICE_FLAGS: Final = getattr(os, "SPLICE_F_MOVE", 1) | getattr(os, "SPLICE_F_NONBLOCK", 2)

# states
_IDLE, _HEAD, _LENGTH, _CHUNKED, _UNTIL_CLOSE, _TUNNEL, _CLOSED = range(7)


def _tail(data: bytes, start: int, end: int) -> bytes | memoryview:
    """``data[start:end]``; a large piece as a view (the transport writes it without a copy)."""
    if start == 0 and end == len(data):
        return data
    if end - start >= BIG_BODY:
        return memoryview(data)[start:end]
    return data[start:end]


class ReadBuffer:
    """The receive buffer of one worker's origin connections (see the module docstring)."""

    __slots__ = ("_pipe", "buf", "head_view", "retired", "spliced", "view")

    def __init__(self) -> None:
        self.retired = 0  # buffers given up to a client transport holding a view (tests)
        self.spliced = 0  # body bytes sent by splice (tests, metrics)
        self.buf = bytearray(READ_BYTES)
        self.view = memoryview(self.buf)
        self.head_view = self.view[:HEAD_READ_BYTES]
        self._pipe: tuple[int, int] | None = None

    def retire(self) -> None:
        """A view of the buffer is still queued for sending: read into a new one from now."""
        self.retired += 1
        self.buf = bytearray(READ_BYTES)
        self.view = memoryview(self.buf)
        self.head_view = self.view[:HEAD_READ_BYTES]

    def pipe(self) -> tuple[int, int] | None:
        """The worker's splice pipe (read end, write end), made on first use; None when this
        system has none. Empty between uses: whatever a splice leaves is read back."""
        if self._pipe is None:
            try:
                r, w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
            except (AttributeError, OSError):
                return None
            with contextlib.suppress(OSError):
                fcntl.fcntl(w, getattr(fcntl, "F_SETPIPE_SZ", 1031), PIPE_BYTES)
            self._pipe = (r, w)
        return self._pipe

    def close(self) -> None:
        if self._pipe is not None:
            for fd in self._pipe:
                os.close(fd)
            self._pipe = None

    def splice_out(self, out: int, n: int) -> bytes | None:
        """Send the ``n`` bytes the pipe holds to the socket ``out`` (until it takes no more)
        and return what it did not take, read back from the pipe (``b""``: all went), for the
        caller to write through the transport after it. None: the pipe could not be drained;
        it is closed then (a new one is made on next use), never reused with bytes in it."""
        assert self._pipe is not None
        pr = self._pipe[0]
        sent = 0
        with contextlib.suppress(OSError):  # EAGAIN: the socket is full
            while sent < n:
                m = os.splice(pr, out, n - sent, flags=SPLICE_FLAGS)
                if m <= 0:
                    break
                sent += m
        if sent == n:
            return b""
        rest = bytearray()
        try:
            while len(rest) < n - sent:
                piece = os.read(pr, n - sent - len(rest))
                if not piece:
                    raise OSError("splice pipe ran dry")
                rest += piece
        except OSError:
            self.close()
            return None
        return bytes(rest)


def plain_tcp_fd(transport: asyncio.BaseTransport) -> int:
    """The socket of a plain TCP transport (no TLS: its bytes are the wire's), else -1: the
    only kind a splice may read from or write to."""
    if (
        transport.get_extra_info("sslcontext") is not None
        or transport.get_extra_info("ssl_object") is not None
    ):
        return -1
    sock = transport.get_extra_info("socket")
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return -1
    fd: int = sock.fileno()
    return fd


class UpstreamSink(Protocol):
    """What the client side implements to receive an origin's response. Body pieces may be
    views of a buffer that is reused after the call: a sink keeping one copies it, and
    ``upstream_head`` never leaves the transport a view of a body under ``BIG_BODY``."""

    transport: asyncio.Transport | None  # the client's (checked for views it still holds)

    def splice_target(self) -> int: ...  # the client socket for splice(2), or -1
    def spliced(self, n: int) -> None: ...  # n body bytes went to the client by splice

    def upstream_head(self, head: ResponseHead, body: bytes | memoryview) -> None: ...
    def upstream_body(self, data: bytes | memoryview) -> None: ...
    def upstream_end(self) -> None: ...
    def upstream_error(self, err: UpstreamError) -> None: ...
    def upstream_pause(self) -> None: ...
    def upstream_resume(self) -> None: ...
    def upstream_activity(self) -> None: ...


class UpstreamConnection(asyncio.BufferedProtocol):
    __slots__ = (
        "_buf",
        "_fd",
        "_method",
        "_parser",
        "_reads",
        "_remaining",
        "_state",
        "idle_deadline",
        "key",
        "reusable",
        "sink",
        "transport",
    )

    def __init__(self, key: tuple[str, int, bool], reads: ReadBuffer | None = None) -> None:
        self.key = key
        self._reads = reads if reads is not None else ReadBuffer()
        self._fd = -1  # the socket, when plain TCP (splice); see connection_made
        self.transport: asyncio.Transport | None = None
        self.sink: UpstreamSink | None = None
        self.reusable = True
        self.idle_deadline = 0.0  # loop time after which an idle pooled connection is closed
        self._state = _IDLE
        self._buf = bytearray()
        self._parser: ResponseParser | None = None
        self._remaining = 0
        self._method = b"GET"

    # -- driven by the sink --------------------------------------------------------------
    def start(self, sink: UpstreamSink, method: bytes, head: bytes) -> None:
        self.sink = sink
        self._method = method
        self._state = _HEAD
        self._buf.clear()
        assert self.transport is not None
        self.transport.write(head)

    def send(self, data: bytes) -> None:
        if self.transport is not None:
            self.transport.write(data)

    def detach(self) -> bool:
        """The exchange is over (or abandoned); only a clean IDLE connection may be pooled.
        Returns whether this one may (``alive``)."""
        self.sink = None
        if self._state != _IDLE:
            self.reusable = False
            return False
        return self.reusable and self.transport is not None

    def close(self) -> None:
        self.reusable = False
        self.sink = None
        self._state = _CLOSED
        if self.transport is not None:
            self.transport.abort()

    @property
    def alive(self) -> bool:
        return self._state == _IDLE and self.transport is not None and self.reusable

    # -- asyncio.Protocol ------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's is not a subclass
        self._fd = plain_tcp_fd(transport)

    def get_buffer(self, sizehint: int) -> memoryview:
        if self._state == _HEAD and self._fd >= 0:
            return self._reads.head_view  # the body's rest may then be spliced (_on_head)
        return self._reads.view

    def buffer_updated(self, nbytes: int) -> None:
        sink = self.sink
        if sink is not None and not self._buf:
            state = self._state
            if state == _LENGTH:
                self._body_view(sink, nbytes)
                return
            if state == _HEAD:
                reads = self._reads
                raw, head = HEADS.last  # origins repeat their heads byte for byte
                end = len(raw)
                if (
                    head is not None
                    and end <= nbytes
                    and reads.buf.startswith(raw)
                    and self._method != b"HEAD"
                ):
                    self._on_head(sink, head, reads.view, end, nbytes)
                    return
                end = reads.buf.find(b"\r\n\r\n", 0, nbytes)
                if end >= 0:
                    head = self._parse_head(bytes(reads.view[: end + 4]))
                    if head is not None:
                        self._on_head(sink, head, reads.view, end + 4, nbytes)
                    return
        self.data_received(bytes(self._reads.view[:nbytes]))

    def _body_view(self, sink: UpstreamSink, nbytes: int) -> None:
        reads = self._reads
        rem = self._remaining
        if nbytes < rem:
            self._remaining = rem - nbytes
            sink.upstream_body(reads.view[:nbytes])
            self._check_kept(sink, reads)
            return
        if nbytes > rem:
            self.reusable = False
        self._remaining = 0
        self._state = _IDLE
        sink.upstream_body(reads.view[:rem])
        self._check_kept(sink, reads)
        sink.upstream_end()

    def _splice(self, sink: UpstreamSink) -> None:
        """Send the body bytes that have arrived by splice (see the module docstring)."""
        out = sink.splice_target()
        pipe = self._reads.pipe() if out >= 0 else None
        if pipe is None:
            return
        rem = self._remaining
        try:
            n = os.splice(self._fd, pipe[1], rem, flags=SPLICE_FLAGS)
        except OSError:  # nothing yet (EAGAIN), or an error the ordinary read reports
            return
        if n <= 0:
            return  # end of stream: the transport reports it
        rest = self._reads.splice_out(out, n)
        if rest is None:
            self._fail(UpstreamProtocolError("splice failed: the pipe could not be drained"))
            return
        sent = n - len(rest)
        self._reads.spliced += sent
        sink.spliced(sent)
        if rest:  # what the client socket did not take: through the transport, after it
            sink.upstream_body(rest)
        self._remaining = rem - n
        if not self._remaining and self.sink is sink:
            self._state = _IDLE
            sink.upstream_end()

    @staticmethod
    def _check_kept(sink: UpstreamSink, reads: ReadBuffer) -> None:
        tr = sink.transport
        if tr is not None and tr.get_write_buffer_size():
            reads.retire()  # the client transport may hold a view of it

    def data_received(self, data: bytes) -> None:
        sink = self.sink
        if sink is None:
            self.close()  # bytes from an origin that owes us nothing: never reuse
            return
        state = self._state
        if state == _LENGTH:
            n = len(data)
            rem = self._remaining
            if n < rem:
                self._remaining = rem - n
                sink.upstream_body(data)
                return
            if n > rem:
                self.reusable = False
                data = data[:rem]
            self._remaining = 0
            self._state = _IDLE
            sink.upstream_body(data)
            sink.upstream_end()
        elif state == _HEAD:
            buf = self._buf
            if buf:
                sink.upstream_activity()
                old = len(buf)
                buf += data
                end = find_head_end(buf, old - 3)
                if end < 0:
                    if len(buf) > MAX_RESPONSE_HEAD:
                        self._fail(UpstreamProtocolError("response head too large"))
                    return
                data = bytes(buf)
                buf.clear()
            else:
                end = data.find(b"\r\n\r\n")
                if end < 0:
                    sink.upstream_activity()
                    buf += data
                    if len(buf) > MAX_RESPONSE_HEAD:
                        self._fail(UpstreamProtocolError("response head too large"))
                    return
                end += 4
            head = self._parse_head(data[:end] if end < len(data) else data)
            if head is not None:
                self._on_head(sink, head, data, end, len(data))
        elif state == _CHUNKED:
            self._on_chunked(sink, data)
        elif state in (_UNTIL_CLOSE, _TUNNEL):
            sink.upstream_body(data)
        else:
            self.close()

    def _parse_head(self, raw: bytes) -> ResponseHead | None:
        """The validated head of the complete response head ``raw`` (None: the connection
        failed)."""
        try:
            return HEADS.parse(raw, self._method, MAX_RESPONSE_HEAD)
        except UpstreamError as err:
            self._fail(err)
            return None

    def _on_head(
        self, sink: UpstreamSink, head: ResponseHead, data: bytes | memoryview, end: int, n: int
    ) -> None:
        """``head`` is a validated response head, ``data[end:n]`` what followed it (body, or
        the next head); ``data`` is ``bytes`` or a view of the read buffer."""
        if not head.keep_alive:
            self.reusable = False
        framing = head.framing
        if framing is F_LENGTH:  # the common case first
            cl = head.content_length or 0
            have = n - end
            stop = end + cl if have >= cl else n
            body = _tail(data, end, stop) if isinstance(data, bytes) else data[end:stop]
            if have >= cl:
                if have > cl:
                    self.reusable = False
                self._state = _IDLE
            else:
                self._remaining = cl - have
                self._state = _LENGTH
            sink.upstream_head(head, body)
            if stop - end >= BIG_BODY and not isinstance(data, bytes):
                self._check_kept(sink, self._reads)  # (a smaller body went out joined to the head)
            if self.sink is sink:
                if have >= cl:
                    sink.upstream_end()
                elif cl - have >= SPLICE_MIN and self._fd >= 0:
                    self._splice(sink)
            return
        data = data if isinstance(data, bytes) else bytes(data[:n])
        rest = data[end:]
        if 100 <= head.status < 200 and not head.upgrade:
            if rest:  # interim response (100 Continue): skip it, the real head follows
                self.data_received(rest)
            return
        if head.upgrade:
            self._state = _TUNNEL
            self.reusable = False
            sink.upstream_head(head, rest)
        elif framing is F_NO_BODY:
            if rest:
                self.reusable = False
            self._state = _IDLE
            sink.upstream_head(head, b"")
            if self.sink is sink:
                sink.upstream_end()
        elif framing is F_CHUNKED:
            self._state = _CHUNKED
            self._parser = parser = ResponseParser(max_head_bytes=MAX_RESPONSE_HEAD)
            parser.prime_chunked()
            sink.upstream_head(head, b"")
            if rest and self.sink is sink:
                self._on_chunked(sink, rest)
        else:
            self._state = _UNTIL_CLOSE
            self.reusable = False
            sink.upstream_head(head, rest)

    def _on_chunked(self, sink: UpstreamSink, data: bytes) -> None:
        parser = self._parser
        assert parser is not None
        try:
            parser.feed_body(data)
        except UpstreamError as err:
            self._fail(err)
            return
        pieces = parser.body
        if pieces:
            joined = pieces[0] if len(pieces) == 1 else b"".join(pieces)
            pieces.clear()
            sink.upstream_body(joined)
        if parser.done and self.sink is sink:
            if parser.extra:
                self.reusable = False
            self._state = _IDLE
            sink.upstream_end()

    def _fail(self, err: UpstreamError) -> None:
        sink = self.sink
        self.close()
        if sink is not None:
            sink.upstream_error(err)

    def eof_received(self) -> bool | None:
        return None  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        state = self._state
        self._state = _CLOSED
        self.reusable = False
        self.transport = None
        sink = self.sink
        self.sink = None
        if sink is None:
            return
        if state in (_UNTIL_CLOSE, _TUNNEL):
            sink.upstream_end()
        elif state != _IDLE:
            sink.upstream_error(UpstreamProtocolError("origin closed the connection mid-response"))

    def pause_writing(self) -> None:
        if self.sink is not None:
            self.sink.upstream_pause()

    def resume_writing(self) -> None:
        if self.sink is not None:
            self.sink.upstream_resume()
