"""A bounded, non-blocking chunk writer: the event loop offers, a thread does ``write(2)``.

``offer`` never blocks and never waits for I/O: it queues the chunk if the bytes queued (plus
the chunk being written) stay under ``max_pending_bytes``, else it refuses and the caller
counts a drop. The writer thread drains the queue with plain blocking writes, so a slow disk
or a reader that stopped reading our stdout pipe stalls only this thread.

For pipes and sockets (``split_lines``) each ``write`` carries whole lines and at most
``PIPE_BUF`` bytes, which POSIX makes atomic: several worker processes can share one stdout
without interleaving inside a line. A write error (``EPIPE``, ``ENOSPC``...) drops the rest of
that chunk, is counted in ``write_errors`` and logged once per writer.
"""

from __future__ import annotations

import os
import threading
from collections import deque

from shieldwall.observability.logging import get_logger

__all__ = ["CLOSE_TIMEOUT", "PIPE_BUF", "ThreadedWriter"]

log = get_logger(__name__)

PIPE_BUF = 4096  # Linux PIPE_BUF: writes up to this size to a pipe are atomic
CLOSE_TIMEOUT = 5.0  # seconds close() waits for queued chunks to reach the fd


class ThreadedWriter:
    """Writes offered chunks to ``fd`` on a daemon thread, with a byte bound on the queue."""

    def __init__(
        self,
        fd: int,
        *,
        max_pending_bytes: int,
        close_fd: bool,
        split_lines: bool,
        name: str = "shieldwall-accesslog",
    ) -> None:
        self._fd = fd
        self._max = max_pending_bytes
        self._close_fd = close_fd
        self._split = split_lines
        self._cond = threading.Condition()
        self._queue: deque[bytes] = deque()
        self._pending = 0  # queued bytes + the chunk being written
        self._closing = False
        self.write_errors = 0
        self.written_bytes = 0
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def offer(self, chunk: bytes) -> bool:
        with self._cond:
            if self._closing or self._pending + len(chunk) > self._max:
                return False
            self._queue.append(chunk)
            self._pending += len(chunk)
            self._cond.notify()
            return True

    def close(self, timeout: float = CLOSE_TIMEOUT) -> None:
        """Write what is queued (up to ``timeout``), stop the thread, close an owned fd."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("access log writer still blocked after %.1fs; leaving it", timeout)
            return  # never close an fd a live thread may be writing to
        if self._close_fd:
            os.close(self._fd)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    self._cond.wait()
                if not self._queue:
                    return
                data = b"".join(self._queue)
                self._queue.clear()
            try:
                self._write(data)
            finally:
                with self._cond:
                    self._pending -= len(data)

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        pos, n = 0, len(data)
        try:
            while pos < n:
                end = n
                if self._split and n - pos > PIPE_BUF:
                    end = pos + PIPE_BUF
                    cut = data.rfind(b"\n", pos, end)
                    if cut >= pos:
                        end = cut + 1  # else one over-long line: written as it is
                while pos < end:
                    pos += os.write(self._fd, view[pos:end])
        except OSError as exc:
            self.write_errors += 1
            if self.write_errors == 1:
                log.error("access log write failed, dropping %d bytes: %s", n - pos, exc)
        finally:
            self.written_bytes += pos
