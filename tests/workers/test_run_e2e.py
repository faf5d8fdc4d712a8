"""``shieldwall run`` end to end: supervisor + real workers (EdgeServer) + a real origin.

The edge runs as a subprocess (``python -m shieldwall run -c FILE``); the origin runs on the
test's event loop, so every blocking client call goes through ``asyncio.to_thread``.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tests.support.origin import Origin, OriginResponse, ReceivedRequest
from tests.workers.proc import EdgeProcess, free_port, http_get

from shieldwall.edge.reuseport import steer_index

pytestmark = pytest.mark.slow

CONFIG = """
workers = 2
log_level = "info"
[limits]
shutdown_grace = "10s"
[access_log]
path = ""
[[listeners]]
address = "127.0.0.1"
port = {port}
{zones}
"""
ZONE = """
[[zones]]
name = "{name}"
hosts = ["{name}.test"]
[[zones.origins]]
host = "127.0.0.1"
port = {origin}
"""


def _handler(req: ReceivedRequest) -> OriginResponse:
    body = f"origin saw host={req.headers.get('host')} target={req.target}".encode()
    return OriginResponse(body=body, delay=1.0 if req.target.startswith("/slow") else 0.0)


def _write(cfg: Path, port: int, origin: int, zones: list[str], bad: bool = False) -> None:
    text = "".join(ZONE.format(name=z, origin=origin) for z in zones)
    if bad:
        text = text.replace(f"port = {origin}", "port = 0")
    cfg.write_text(CONFIG.format(port=port, zones=text))


@pytest.fixture
async def setup(tmp_path: Path) -> AsyncIterator[tuple[EdgeProcess, Origin, int, Path]]:
    async with Origin(_handler) as origin:
        cfg, port = tmp_path / "edge.toml", free_port()
        _write(cfg, port, origin.port, ["alpha"])
        edge = EdgeProcess(["-m", "shieldwall", "run", "-c", str(cfg)])
        try:
            await asyncio.to_thread(edge.wait_for, r"ready version=1 workers=2")
            yield edge, origin, port, cfg
        finally:
            await asyncio.to_thread(edge.close)


async def _get(port: int, host: str, path: str = "/", source: str | None = None) -> bytes:
    status, body = await asyncio.to_thread(http_get, port, host, path, source=source)
    assert status == 200, (status, body)
    return body


def _worker_pids(edge: EdgeProcess) -> dict[int, int]:
    pids = {}
    for line in edge.lines:
        m = re.search(r"\[worker (\d+) pid=(\d+)\].*serving version", line)
        if m:
            pids[int(m.group(1))] = int(m.group(2))
    return pids


async def test_proxies_restarts_and_reloads(setup: tuple[EdgeProcess, Origin, int, Path]) -> None:
    edge, origin, port, cfg = setup
    assert await _get(port, "alpha.test", "/a") == b"origin saw host=alpha.test target=/a"

    # kill -9 worker 0: restarted on the same slot, and clients steered there are served again
    pid0 = _worker_pids(edge)[0]
    os.kill(pid0, signal.SIGKILL)
    await asyncio.to_thread(edge.wait_for, rf"worker 0 \(pid {pid0}\) killed by SIGKILL")
    await asyncio.to_thread(edge.wait_for, r"worker 0 .* serving again")
    slot0 = [f"127.0.5.{i}" for i in range(1, 60) if steer_index(f"127.0.5.{i}", 2) == 0]
    for src in slot0[:5]:
        assert (await _get(port, "alpha.test", "/b", source=src)).endswith(b"target=/b")

    # a bad config is refused and the old one keeps serving
    _write(cfg, port, origin.port, ["alpha", "beta"], bad=True)
    edge.signal(signal.SIGHUP)
    await asyncio.to_thread(edge.wait_for, r"reload of .* failed; still serving version 1")
    assert (await _get(port, "alpha.test", "/c")).endswith(b"target=/c")

    # a good one is applied by every worker
    _write(cfg, port, origin.port, ["alpha", "beta"])
    edge.signal(signal.SIGHUP)
    await asyncio.to_thread(edge.wait_for, r"reload complete: version 2 on all workers")
    for src in ("127.0.7.1", "127.0.7.2", "127.0.7.3", "127.0.7.4"):
        assert await _get(port, "beta.test", "/d", source=src) == (
            b"origin saw host=beta.test target=/d"
        )


async def test_sigterm_finishes_inflight_then_exits_0(
    setup: tuple[EdgeProcess, Origin, int, Path],
) -> None:
    edge, origin, port, _ = setup
    slow = asyncio.create_task(_get(port, "alpha.test", "/slow"))
    async with asyncio.timeout(10):
        while not any(r.target == "/slow" for r in origin.requests):
            await asyncio.sleep(0.01)  # the origin runs on this loop: poll its record
    edge.signal(signal.SIGTERM)
    assert (await slow).endswith(b"target=/slow")
    assert await asyncio.to_thread(edge.proc.wait, 15) == 0
