"""``shieldwall demo`` end to end, as a user runs it: a subprocess, real sockets, Ctrl-C.

Readiness is the banner itself: the demo prints its URLs only after the supervisor reports
every worker ready. Blocking socket calls are fine here (no event loop in this test).
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import selectors
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

START_TIMEOUT = 60.0  # seconds for origin + supervisor + worker to come up on a busy machine
STOP_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Demo:
    def __init__(self, data_dir: Path, log: Path) -> None:
        self.http_port, self.https_port = free_port(), free_port()
        self.data_dir = data_dir
        self._log = log.open("wb")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "shieldwall",
                "demo",
                "--http-port",
                str(self.http_port),
                "--https-port",
                str(self.https_port),
                "--origin-port",
                "0",
                "--data-dir",
                str(data_dir),
            ],
            stdout=subprocess.PIPE,
            stderr=self._log,
        )
        self.out = ""

    def wait_for(self, pattern: str, timeout: float = START_TIMEOUT) -> re.Match[str]:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            while (m := re.search(pattern, self.out)) is None:
                left = deadline - time.monotonic()
                if left <= 0 or not sel.select(left):
                    raise AssertionError(f"timed out waiting for {pattern!r}:\n{self.out}")
                chunk = os.read(self.proc.stdout.fileno(), 65536)
                if not chunk:
                    raise AssertionError(f"demo exited ({self.proc.wait()}):\n{self.out}")
                self.out += chunk.decode(errors="replace")
        return m

    def close(self) -> None:
        if self.proc.poll() is None:  # a failed test: stop politely, then firmly
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()  # its origin child exits on its own (stdin EOF)
                self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._log.close()


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    d = Demo(tmp_path / "data", tmp_path / "demo.log")
    try:
        yield d
    finally:
        d.close()


def fetch(port: int, host: str, path: str = "/", tls: ssl.SSLContext | None = None) -> bytes:
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    with contextlib.closing(raw):
        sock = tls.wrap_socket(raw, server_hostname=host) if tls else raw
        with contextlib.closing(sock):
            sock.sendall(
                f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()
            )
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
    return data


def wait_ready(demo: Demo) -> int:
    """Wait for the banner; check it names our ports; return the origin's port."""
    demo.wait_for(r"Config: .*demo\.toml")
    http_url = demo.wait_for(r"edge \(http\): +http://127\.0\.0\.1:(\d+)/")
    https_url = demo.wait_for(r"edge \(https\): +https://localhost:(\d+)/")
    assert int(http_url.group(1)) == demo.http_port
    assert int(https_url.group(1)) == demo.https_port
    assert "curl -k https://localhost:" in demo.out and "--resolve demo.localhost:" in demo.out
    return int(demo.wait_for(r"origin: +http://127\.0\.0\.1:(\d+)/").group(1))


def stop_cleanly(demo: Demo, origin_port: int) -> None:
    demo.proc.send_signal(signal.SIGINT)
    assert demo.proc.wait(STOP_TIMEOUT) == 0
    # the origin child went away with it
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", origin_port), timeout=2).close()


def test_demo_serves_http_then_stops_on_ctrl_c(demo: Demo) -> None:
    origin_port = wait_ready(demo)
    for host in ("127.0.0.1", "localhost", "demo.localhost", "a.b.demo.localhost"):
        page = fetch(demo.http_port, host)
        assert page.startswith(b"HTTP/1.1 200 "), (host, page[:200])
        assert f"<code>{host}</code>".encode() in page
    head, _, body = fetch(demo.http_port, "localhost", "/big").partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ") and len(body) == 64 * 1024
    stop_cleanly(demo, origin_port)


@pytest.mark.skipif(
    importlib.util.find_spec("shieldwall.edge.tls") is None,
    reason="TLS termination (shieldwall/edge/tls.py) has not landed yet",
)
def test_demo_serves_https_with_its_generated_certificate(demo: Demo) -> None:
    origin_port = wait_ready(demo)
    # verified against the certificate the demo generated: by name, by wildcard, by IP
    ctx = ssl.create_default_context(cafile=str(demo.data_dir / "demo-cert.pem"))
    for host in ("localhost", "demo.localhost", "shop.demo.localhost", "127.0.0.1"):
        page = fetch(demo.https_port, host, tls=ctx)
        assert page.startswith(b"HTTP/1.1 200 "), (host, page[:200])
        assert f"<code>{host}</code>".encode() in page
    head, _, body = fetch(demo.https_port, "demo.localhost", "/big", tls=ctx).partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ") and len(body) == 64 * 1024
    stop_cleanly(demo, origin_port)
