"""Access log: JSON lines with the documented fields, bounded buffers, timer flush, writers."""

from __future__ import annotations

import asyncio
import json
import os
import threading
import time
from pathlib import Path

import pytest

from shieldwall.config.model import AccessLogConfig, Config, OriginConfig, ZoneConfig
from shieldwall.edge.context import ConnectionInfo, RequestContext
from shieldwall.edge.runtime import build_runtime
from shieldwall.errors import ConfigError
from shieldwall.observability.accesslog import (
    MAX_LINE_BYTES,
    AccessLog,
    format_entry,
    open_access_log,
)
from shieldwall.observability.accesslog_writer import PIPE_BUF, ThreadedWriter

FIELDS = {
    "time", "id", "zone", "host", "client_ip", "method", "path", "status", "bytes_in",
    "bytes_out", "duration", "upstream_addr", "upstream_status", "upstream_time", "cache",
    "action", "rule", "ua", "scheme", "tls", "sni", "ja4", "error",
}  # fmt: skip

_RUNTIME = build_runtime(
    Config(
        zones=(
            ZoneConfig(
                "shop",
                ("shop.test",),
                (OriginConfig("127.0.0.1", 9)),
            ),
        )
    ),
    1,
)


def _ctx(**kw: object) -> RequestContext:
    conn = ConnectionInfo("127.0.0.5", 40000, "127.0.0.5", 40000, 8080)
    ctx = RequestContext(conn=conn, runtime=_RUNTIME, request_id="r-1", started=100.0)
    ctx.zone = _RUNTIME.zones[0]
    ctx.host = "shop.test"
    ctx.method, ctx.target = b"GET", b"/a?b=1"
    ctx.headers = [(b"user-agent", b"curl/8")]
    ctx.status, ctx.bytes_out = 200, 123
    for k, v in kw.items():
        setattr(ctx, k, v)
    return ctx


class ListWriter:
    def __init__(self, capacity: int = 1 << 30) -> None:
        self.chunks: list[bytes] = []
        self.capacity = capacity  # bytes accepted in total before refusing
        self.closed = False
        self.got = asyncio.Event() if _has_loop() else None

    def offer(self, chunk: bytes) -> bool:
        if sum(map(len, self.chunks)) + len(chunk) > self.capacity:
            return False
        self.chunks.append(chunk)
        if self.got is not None:
            self.got.set()
        return True

    def close(self) -> None:
        self.closed = True

    def lines(self) -> list[dict[str, object]]:
        return [json.loads(x) for x in b"".join(self.chunks).splitlines()]


def _has_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def test_entry_is_one_json_line_with_every_field() -> None:
    wall = 1_700_000_000.25
    ctx = _ctx(upstream_addr="127.0.0.1:9", upstream_status=200, upstream_time=0.004)
    ctx.conn.tls_version, ctx.conn.ja4, ctx.conn.tls_sni = "TLSv1.3", "t13d1516h2_x_y", "shop.test"
    line = format_entry(ctx, wall=wall, duration=0.0125)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    rec = json.loads(line)
    assert set(rec) == FIELDS
    assert rec["time"] == "2023-11-14T22:13:20.250Z"
    assert (rec["zone"], rec["host"], rec["client_ip"]) == ("shop", "shop.test", "127.0.0.5")
    assert (rec["method"], rec["path"], rec["status"]) == ("GET", "/a?b=1", 200)
    assert (rec["bytes_out"], rec["duration"], rec["ua"]) == (123, 0.0125, "curl/8")
    assert (rec["upstream_status"], rec["upstream_time"]) == (200, 0.004)
    assert (rec["tls"], rec["ja4"], rec["sni"]) == ("TLSv1.3", "t13d1516h2_x_y", "shop.test")
    plain = json.loads(format_entry(_ctx(zone=None), wall=wall, duration=0))
    assert (plain["zone"], plain["tls"], plain["upstream_time"]) == ("", None, None)


def test_hostile_strings_stay_one_bounded_line() -> None:
    evil = b'/x"\n{"status":1}\\\x00\xff\xfe' + "é".encode() + b"\x1b[31m"
    ctx = _ctx(target=evil * 2000, headers=[(b"user-agent", evil * 500)], host="h\n" * 900)
    line = format_entry(ctx, wall=0.0, duration=0.0)
    assert len(line) <= MAX_LINE_BYTES == PIPE_BUF
    assert line.count(b"\n") == 1
    rec = json.loads(line)
    assert rec["status"] == 200 and rec["path"].startswith('/x"\n{"status":1}\\\x00\\xff')


def test_buffer_flushes_at_buffer_bytes_and_stays_bounded() -> None:
    writer = ListWriter()
    alog = AccessLog(AccessLogConfig(buffer_bytes=2000), writer, clock=lambda: 100.5)
    for i in range(100):
        alog.log(_ctx(request_id=f"r{i}"))
        assert alog.buffered_bytes < 2000
    assert writer.chunks and all(len(c) >= 2000 for c in writer.chunks)
    alog.close()
    recs = writer.lines()
    assert [r["id"] for r in recs] == [f"r{i}" for i in range(100)]
    assert recs[0]["duration"] == 0.5 and writer.closed
    alog.log(_ctx())  # after close: ignored, not an error
    assert alog.lines == 100


def test_writer_that_cannot_keep_up_makes_drops_not_growth() -> None:
    writer = ListWriter(capacity=5000)
    alog = AccessLog(AccessLogConfig(buffer_bytes=1000), writer)
    for _ in range(1000):
        alog.log(_ctx())
        assert alog.buffered_bytes < 1000 + MAX_LINE_BYTES
    alog.close()
    kept = len(writer.lines())
    assert kept > 0 and alog.dropped_lines > 0
    assert kept + alog.dropped_lines == alog.lines == 1000


async def test_timer_flushes_a_quiet_buffer() -> None:
    writer = ListWriter()
    alog = AccessLog(AccessLogConfig(buffer_bytes=1 << 20, flush_interval=0.02), writer)
    alog.start(asyncio.get_running_loop())
    alog.log(_ctx())
    assert writer.got is not None
    async with asyncio.timeout(5):
        await writer.got.wait()
    assert len(writer.lines()) == 1 and alog.flushes == 1
    alog.close()


def test_threaded_writer_splits_pipe_writes_at_line_boundaries() -> None:
    r, w = os.pipe()
    writer = ThreadedWriter(w, max_pending_bytes=1 << 20, close_fd=True, split_lines=True)
    lines = [f"{i:05d}".encode() * (i % 300 + 1) + b"\n" for i in range(400)]
    received: list[bytes] = []

    def reader() -> None:
        while data := os.read(r, 1 << 16):
            received.append(data)

    t = threading.Thread(target=reader)
    t.start()
    assert writer.offer(b"".join(lines[:200])) and writer.offer(b"".join(lines[200:]))
    writer.close()
    t.join(5)
    os.close(r)
    assert b"".join(received) == b"".join(lines)
    assert writer.written_bytes == sum(map(len, lines)) and writer.write_errors == 0


def test_threaded_writer_never_blocks_the_caller_on_a_stuck_pipe() -> None:
    r, w = os.pipe()  # nobody reads r: the pipe fills, the writer thread blocks
    writer = ThreadedWriter(w, max_pending_bytes=256 * 1024, close_fd=False, split_lines=True)
    chunk = b"x" * 1023 + b"\n"
    t0 = time.monotonic()
    accepted = sum(writer.offer(chunk * 16) for _ in range(200))  # 3.2 MB offered
    assert time.monotonic() - t0 < 1.0
    assert 0 < accepted < 200  # some taken (pipe + queue), the rest refused
    os.close(r)  # reader gone: the blocked write fails with EPIPE and the thread finishes
    writer.close()
    assert writer.write_errors >= 1
    os.close(w)


def test_open_access_log_file_stdout_off_and_errors(tmp_path: Path) -> None:
    assert open_access_log(AccessLogConfig(path=None)) is None
    assert open_access_log(AccessLogConfig(path="")) is None
    with pytest.raises(ConfigError) as ei:
        open_access_log(AccessLogConfig(path=str(tmp_path / "missing" / "a.log")))
    assert ei.value.path == "access_log.path"
    target = tmp_path / "access.log"
    alog = open_access_log(AccessLogConfig(path=str(target)))
    assert alog is not None
    for i in range(3):
        alog.log(_ctx(request_id=f"f{i}"))
    alog.close()
    recs = [json.loads(x) for x in target.read_text().splitlines()]
    assert [r["id"] for r in recs] == ["f0", "f1", "f2"]
