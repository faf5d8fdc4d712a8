"""A worker in-process: ready message, reload over the control socket and by call, EOF stop."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import pytest
from tests.workers.proc import http_get
from tests.workers.standin import StandinServer

from shieldwall.config.model import (
    AccessLogConfig,
    Config,
    ListenerConfig,
    OriginConfig,
    ZoneConfig,
)
from shieldwall.edge.ipc import FrameDecoder, encode_pickle
from shieldwall.edge.reuseport import create_listener_group
from shieldwall.edge.worker import Worker, WorkerSpec
from shieldwall.errors import ConfigError


def _config(*zones: str, access_log: str | None = None) -> Config:
    zs = tuple(ZoneConfig(z, (f"{z}.test",), (OriginConfig("127.0.0.1", 9),)) for z in zones)
    return Config(zones=zs, access_log=AccessLogConfig(path=access_log))


async def test_worker_lifecycle_over_control_socket(tmp_path: Path) -> None:
    loop = asyncio.get_running_loop()
    lc = ListenerConfig("127.0.0.1", 0)
    group = create_listener_group(lc, 1)
    sup, child = socket.socketpair()
    sup.setblocking(False)
    decoder = FrameDecoder(allow_pickle=False)
    pending: list[dict[str, Any]] = []

    async def message() -> dict[str, Any]:
        async with asyncio.timeout(10):
            while not pending:
                pending.extend(decoder.feed(await loop.sock_recv(sup, 65536)))
        return pending.pop(0)

    spec = WorkerSpec(0, _config("alpha"), 1, [(lc, group.sockets[0])], child)
    worker = Worker(spec, server_factory=StandinServer)
    task = asyncio.create_task(worker.run(), name="worker")
    try:
        assert await message() == {"type": "ready", "worker": 0, "version": 1}
        _, body = await asyncio.to_thread(http_get, group.port, "alpha.test")
        assert body.startswith(b"zone=alpha ") and b"version=1" in body

        await loop.sock_sendall(sup, encode_pickle(("reload", 2, _config("alpha", "beta"))))
        assert await message() == {"type": "reloaded", "worker": 0, "version": 2}
        _, body = await asyncio.to_thread(http_get, group.port, "beta.test")
        assert body.startswith(b"zone=beta ") and b"version=2" in body

        bad = _config("gamma", access_log=str(tmp_path / "no" / "such" / "dir.log"))
        await loop.sock_sendall(sup, encode_pickle(("reload", 3, bad)))
        failed = await message()
        assert failed["type"] == "reload_failed" and "access_log.path" in failed["reason"]
        assert worker.version == 2  # still serving version 2
        with pytest.raises(ConfigError):
            worker.reload(bad)

        good_log = tmp_path / "a.log"
        assert worker.reload(_config("gamma", access_log=str(good_log))) == 3
        _, body = await asyncio.to_thread(http_get, group.port, "gamma.test")
        assert body.startswith(b"zone=gamma ")

        sup.close()  # the supervisor went away: the worker drains and returns 0
        async with asyncio.timeout(10):
            assert await task == 0
        assert '"zone":"gamma"' in good_log.read_text()  # access log flushed at exit
    finally:
        task.cancel()
        child.close()
        group.close()
