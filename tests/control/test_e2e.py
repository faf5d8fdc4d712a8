"""``shieldwall run`` with ``[control] enabled``: supervisor + worker + control sidecar in a
subprocess, real origins on the test loop. API changes reach the edge through the supervisor
(rollback serves the old config again; a legal order answers 451 and lifting it restores
service), the bootstrap token is printed once and stored 0600, SIGHUP with a changed file
becomes a version, and everything lands in the audit log.
"""

from __future__ import annotations

import asyncio
import os
import signal
import stat
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.control.conftest import Reply, http
from tests.support.origin import Origin, OriginResponse, ReceivedRequest
from tests.workers.proc import EdgeProcess, free_port, http_get

pytestmark = pytest.mark.slow

CONFIG = """
workers = 1
data_dir = "data"
[limits]
shutdown_grace = "5s"
[access_log]
path = ""
[[listeners]]
address = "127.0.0.1"
port = {port}
[[zones]]
name = "alpha"
hosts = ["alpha.test"]
[[zones.origins]]
host = "127.0.0.1"
port = {origin_a}
[control]
enabled = true
port = 0
"""


@dataclass
class Deployment:
    edge: EdgeProcess
    port: int
    api: str
    token: str
    config: Path
    origin_b: int

    async def call(self, method: str, path: str, body: object = None) -> Reply:
        return await http(self.api, method, path, token=self.token, body=body)

    async def get(self, path: str = "/") -> tuple[int, bytes]:
        return await asyncio.to_thread(http_get, self.port, "alpha.test", path)

    async def wait_version(self, n: int) -> None:
        await asyncio.to_thread(self.edge.wait_for, rf"reload complete: version {n} on all workers")


def _named(name: bytes) -> object:
    def handler(req: ReceivedRequest) -> OriginResponse:
        return OriginResponse(body=name)

    return handler


@pytest.fixture
async def deployment(tmp_path: Path) -> AsyncIterator[Deployment]:
    async with Origin(_named(b"origin A")) as a, Origin(_named(b"origin B")) as b:  # type: ignore[arg-type]
        cfg, port = tmp_path / "shieldwall.toml", free_port()
        cfg.write_text(CONFIG.format(port=port, origin_a=a.port))
        edge = EdgeProcess(["-m", "shieldwall", "run", "-c", str(cfg)])
        try:
            await asyncio.to_thread(edge.wait_for, r"bootstrap admin token")
            token = (await asyncio.to_thread(edge.wait_for, r"^\s+(swt_\S+)$")).group(1)
            m = await asyncio.to_thread(
                edge.wait_for, r"ready version=1 workers=1 .* control=(\S+)"
            )
            yield Deployment(edge, port, m.group(1), token, cfg, b.port)
        finally:
            assert await asyncio.to_thread(edge.close) == 0


async def test_api_changes_reach_the_running_edge(deployment: Deployment) -> None:
    d = deployment
    token_file = d.config.parent / "data" / "control-token"
    assert token_file.read_text().strip() == d.token
    assert stat.S_IMODE(os.stat(token_file).st_mode) == 0o600
    assert await d.get() == (200, b"origin A")

    r = await d.call(
        "PATCH", "/api/v1/zones/alpha", {"origins": [{"host": "127.0.0.1", "port": d.origin_b}]}
    )
    assert r.status == 200 and r.json["version"] == 2
    await d.wait_version(2)
    assert await d.get() == (200, b"origin B")

    r = await d.call(
        "PATCH", "/api/v1/zones/alpha", {"origins": [{"host": "127.0.0.1", "port": 0}]}
    )
    assert r.status == 422 and r.json["errors"][0]["path"] == "zones[0].origins[0].port"
    assert await d.get() == (200, b"origin B")

    r = await d.call("POST", "/api/v1/versions/1/rollback")
    assert r.status == 200 and r.json["version"] == 3
    await d.wait_version(3)
    assert await d.get() == (200, b"origin A")

    r = await d.call(
        "POST",
        "/api/v1/legal",
        {
            "id": "court-9",
            "zone": "alpha",
            "authority": "Court Nine",
            "scope": "prefix",
            "path": "/secret/",
        },
    )
    assert r.status == 201
    await d.wait_version(4)
    reader, writer = await asyncio.open_connection("127.0.0.1", d.port)
    writer.write(b"GET /secret/doc HTTP/1.1\r\nHost: alpha.test\r\nConnection: close\r\n\r\n")
    raw = await reader.read()
    writer.close()
    assert raw.startswith(b"HTTP/1.1 451 ") and b"Court Nine" in raw
    assert b'rel="blocked-by"' in raw
    assert (await d.get("/public"))[0] == 200

    r = await d.call("POST", "/api/v1/legal/court-9/lift", {"reason": "appeal won"})
    assert r.status == 200
    await d.wait_version(5)
    assert await d.get("/secret/doc") == (200, b"origin A")

    # SIGHUP with a changed file: a new version (the file wins, audited with a diff)
    d.config.write_text(
        d.config.read_text().replace(
            'hosts = ["alpha.test"]', 'hosts = ["alpha.test", "www.alpha.test"]'
        )
    )
    d.edge.signal(signal.SIGHUP)
    await d.wait_version(6)
    status, _ = await asyncio.to_thread(http_get, d.port, "www.alpha.test", "/")
    assert status == 200

    actions = [e["action"] for e in (await d.call("GET", "/api/v1/audit")).json["entries"]]
    assert actions == [
        "config.import",
        "token.create",
        "zone.update",
        "config.rollback",
        "legal.create",
        "legal.lift",
        "config.import",
    ]
    versions = (await d.call("GET", "/api/v1/versions")).json["versions"]
    assert [v["source"] for v in versions] == ["sighup", "api", "api", "rollback", "api", "file"]

    # the control process crashes: the supervisor restarts it; the edge never stopped serving
    pid = (await d.call("GET", "/api/v1/health")).json["pid"]
    os.kill(pid, signal.SIGKILL)
    await asyncio.to_thread(d.edge.wait_for, rf"control plane \(pid {pid}\) killed by SIGKILL")
    assert await d.get() == (200, b"origin A")
    d.api = (await asyncio.to_thread(d.edge.wait_for, r"control plane ready at (\S+)")).group(1)
    health = (await d.call("GET", "/api/v1/health")).json
    assert health["version"] == 6 and health["pid"] != pid
