"""Buffered, structured (JSON lines) access log that never blocks the event loop.

Theory of operation
-------------------
``AccessLog.log(ctx)`` runs on the loop once per finished request. It formats one JSON line
(``format_entry``, pure) and appends it to an in-memory buffer. The buffer is handed to a
``ChunkWriter`` as one chunk when it reaches ``AccessLogConfig.buffer_bytes`` or when the loop
timer fires every ``flush_interval`` seconds. The default writer (``ThreadedWriter``) does the
``write(2)`` calls on its own thread, so a slow disk or a full stdout pipe stalls that thread,
never the loop.

Memory is bounded twice: the buffer never exceeds ``buffer_bytes`` plus one line, and the
writer queues at most ``max_pending_bytes``. When the writer cannot keep up, a whole chunk is
*dropped and counted* (``dropped_lines``) rather than queued without bound: under a flood the
access log is the first thing to give, never the proxy.

Every line is at most ``MAX_LINE_BYTES`` (= PIPE_BUF, 4096) long: attacker-controlled fields
are clipped, and a line that still escapes too long is re-rendered with tighter clips. The
writer splits chunks only at line boundaries into pieces of at most PIPE_BUF bytes when the
target is a pipe or socket, so lines from several worker processes sharing one stdout never
interleave mid-line (POSIX: writes of <= PIPE_BUF bytes to a pipe are atomic). Files are
opened ``O_APPEND``, which makes each ``write`` land whole at the end.

Fields (one object per line; absent values are ``""``/``0``/``null``)::

    time  id  zone  host  client_ip  method  path  status  bytes_in  bytes_out  duration
    upstream_addr  upstream_status  upstream_time  cache  action  rule  ua  scheme  tls
    sni  ja4  error

``time`` is ISO-8601 UTC with milliseconds, ``duration``/``upstream_time`` are seconds.
"""

from __future__ import annotations

import asyncio
import os
import stat
import time
from collections.abc import Callable
from json.encoder import encode_basestring as _q
from typing import Protocol

from shieldwall.config.model import AccessLogConfig
from shieldwall.edge.context import RequestContext
from shieldwall.errors import ConfigError
from shieldwall.observability.accesslog_writer import PIPE_BUF, ThreadedWriter
from shieldwall.observability.logging import get_logger

__all__ = ["MAX_LINE_BYTES", "AccessLog", "ChunkWriter", "format_entry", "open_access_log"]

log = get_logger(__name__)

MAX_LINE_BYTES = PIPE_BUF  # one line is written atomically even to a shared pipe
PENDING_CHUNKS = 8  # writer queue bound, in buffers: absorbs a slow disk for a moment


class ChunkWriter(Protocol):
    """Takes whole chunks of lines without blocking; ``False`` means dropped (queue full)."""

    def offer(self, chunk: bytes) -> bool: ...

    def close(self) -> None: ...


# (field, normal clip, tight clip) for attacker-controlled strings, in characters.
_CLIPS_NORMAL = {"path": 1024, "ua": 256, "host": 256, "sni": 256, "other": 128}
_CLIPS_TIGHT = {"path": 256, "ua": 64, "host": 64, "sni": 64, "other": 32}


def _text(value: bytes | str, n: int) -> str:
    if not value:
        return '""'  # most optional fields are empty: skip the encoder
    if isinstance(value, bytes):
        value = value[:n].decode("utf-8", "backslashreplace")
    return _q(value[:n])


_time_cache: list[object] = [-1, ""]


def _iso(t: float) -> str:
    sec = int(t)
    if _time_cache[0] != sec:
        _time_cache[0] = sec
        _time_cache[1] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec))
    return f"{_time_cache[1]}.{int((t - sec) * 1000):03d}Z"


def _render(ctx: RequestContext, wall: float, duration: float, c: dict[str, int]) -> str:
    conn = ctx.conn
    zone = ctx.zone
    ua = ctx.header(b"user-agent") or b""
    up_time = "null" if ctx.upstream_time < 0 else f"{ctx.upstream_time:.6f}"
    tls = _q(conn.tls_version) if conn.tls_version else "null"
    sni = _text(conn.tls_sni, c["sni"]) if conn.tls_sni else "null"
    ja4 = _text(conn.ja4, c["other"]) if conn.ja4 else "null"
    o = c["other"]
    return (
        f'{{"time":"{_iso(wall)}","id":{_text(ctx.request_id, o)},'
        f'"zone":{_text(zone.name if zone is not None else "", o)},'
        f'"host":{_text(ctx.host, c["host"])},'
        f'"client_ip":{_q(ctx.client_ip or conn.client_ip)},'
        f'"method":{_text(ctx.method, 32)},"path":{_text(ctx.target, c["path"])},'
        f'"status":{ctx.status:d},"bytes_in":{ctx.bytes_in:d},"bytes_out":{ctx.bytes_out:d},'
        f'"duration":{duration:.6f},"upstream_addr":{_text(ctx.upstream_addr, o)},'
        f'"upstream_status":{ctx.upstream_status:d},"upstream_time":{up_time},'
        f'"cache":{_text(ctx.cache_status, o)},"action":{_text(ctx.security_action, o)},'
        f'"rule":{_text(ctx.security_rule, o)},"ua":{_text(ua, c["ua"])},'
        f'"scheme":{_text(conn.scheme, 8)},"tls":{tls},"sni":{sni},"ja4":{ja4},'
        f'"error":{_text(ctx.error, o)}}}\n'
    )


def format_entry(ctx: RequestContext, *, wall: float, duration: float) -> bytes:
    """One JSON line (with ``\\n``) of at most ``MAX_LINE_BYTES`` bytes for ``ctx``."""
    line = _render(ctx, wall, duration, _CLIPS_NORMAL).encode("utf-8", "backslashreplace")
    if len(line) > MAX_LINE_BYTES:
        line = _render(ctx, wall, duration, _CLIPS_TIGHT).encode("utf-8", "backslashreplace")
    return line


class AccessLog:
    """The per-worker access log sink (``log(ctx)`` is called by the data path)."""

    def __init__(
        self,
        config: AccessLogConfig,
        writer: ChunkWriter,
        *,
        wall_clock: Callable[[], float] = time.time,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self._writer = writer
        self._wall = wall_clock
        self._clock = clock  # must be the clock ``RequestContext.started`` was taken with
        self._limit = max(1, config.buffer_bytes)
        self._buf: list[bytes] = []
        self._size = 0
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self.lines = 0  # lines accepted into the buffer
        self.dropped_lines = 0  # lines lost because the writer was full
        self.flushes = 0  # chunks handed to the writer

    def start(self, loop: asyncio.AbstractEventLoop, *, use_loop_clock: bool = True) -> None:
        """Arm the flush timer on ``loop`` (and measure durations with ``loop.time``)."""
        self._loop = loop
        if use_loop_clock:
            self._clock = loop.time
        self._arm()

    def _arm(self) -> None:
        if self._loop is not None and not self._closed:
            self._timer = self._loop.call_later(self.config.flush_interval, self._tick)

    def _tick(self) -> None:
        self._timer = None
        self.flush()
        self._arm()

    def log(self, ctx: RequestContext) -> None:
        if self._closed:
            return
        line = format_entry(ctx, wall=self._wall(), duration=self._clock() - ctx.started)
        self._buf.append(line)
        self._size += len(line)
        self.lines += 1
        if self._size >= self._limit:
            self.flush()

    @property
    def buffered_bytes(self) -> int:
        return self._size

    def flush(self) -> None:
        """Hand the buffer to the writer as one chunk (dropped and counted if it is full)."""
        if not self._buf:
            return
        chunk = b"".join(self._buf)
        n = len(self._buf)
        self._buf.clear()
        self._size = 0
        if self._writer.offer(chunk):
            self.flushes += 1
        else:
            self.dropped_lines += n

    def close(self) -> None:
        """Flush what is buffered and close the writer (waits for it to finish writing)."""
        if self._closed:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.flush()
        self._closed = True
        self._writer.close()
        if self.dropped_lines:
            log.warning(
                "access log dropped %d lines (writer could not keep up)", self.dropped_lines
            )


def open_access_log(config: AccessLogConfig) -> AccessLog | None:
    """The sink ``config`` asks for: ``None`` when off, stdout for ``"-"``, else a file.

    Raises ``ConfigError`` (path ``access_log.path``) if the file cannot be opened.
    """
    if not config.path:
        return None
    pending = max(config.buffer_bytes, MAX_LINE_BYTES) * PENDING_CHUNKS
    if config.path == "-":
        fd, own = 1, False
    else:
        try:
            fd = os.open(config.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
        except OSError as exc:
            raise ConfigError("access_log.path", f"cannot open {config.path!r}: {exc}") from exc
        own = True
    try:
        mode = os.fstat(fd).st_mode
    except OSError as exc:
        raise ConfigError("access_log.path", f"cannot use {config.path!r}: {exc}") from exc
    split = stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)
    writer = ThreadedWriter(fd, max_pending_bytes=pending, close_fd=own, split_lines=split)
    return AccessLog(config, writer)
