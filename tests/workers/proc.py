"""Run an edge in a subprocess and follow its log: readiness by log lines, never by sleeping."""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A port free right now (configs may not say port 0)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def http_get(
    port: int, host: str, path: str = "/", *, source: str | None = None, timeout: float = 10.0
) -> tuple[int, bytes]:
    """One HTTP/1.1 request on a new connection (optionally from ``source``): status, body."""
    with socket.create_connection(
        ("127.0.0.1", port), timeout=timeout, source_address=(source, 0) if source else None
    ) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, body


class EdgeProcess:
    """A running edge; ``wait_for(regex)`` returns the first new log line matching it."""

    def __init__(self, args: list[str]) -> None:
        # this checkout's package first (an editable install may point at another checkout)
        path = os.pathsep.join((str(ROOT / "src"), str(ROOT)))
        env = dict(os.environ, PYTHONPATH=path, PYTHONUNBUFFERED="1")
        self.proc = subprocess.Popen(
            [sys.executable, *args], cwd=ROOT, env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )  # fmt: skip
        self.lines: list[str] = []
        self._q: queue.Queue[str | None] = queue.Queue()
        self._t = threading.Thread(target=self._read, daemon=True)
        self._t.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for raw in self.proc.stderr:
            self._q.put(raw.decode(errors="replace").rstrip("\n"))
        self._q.put(None)

    def wait_for(self, pattern: str, timeout: float = 15.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no log line matching {pattern!r}; log:\n" + self.log())
            try:
                line = self._q.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(f"process exited before {pattern!r}; log:\n" + self.log())
            self.lines.append(line)
            m = rx.search(line)
            if m:
                return m

    def log(self) -> str:
        return "\n".join(self.lines)

    def signal(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)

    def close(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()  # workers see their control socket close and stop
                self.proc.wait(5)
        self._t.join(5)
        if self.proc.stderr is not None:
            self.proc.stderr.close()
        return self.proc.returncode
