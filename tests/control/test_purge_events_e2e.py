"""Purge and live events through a real ``shieldwall run`` (2 workers + control sidecar).

Purge: the API's answer carries one result per worker (the supervisor fanned the order out
and every worker ran it on its own cache); the total equals what the edge itself reported as
stored (``Cache-Status`` / ``sw-cache`` on a repeated request), so once the data path serves
from the cache this test checks real removals without changing. A stopped worker turns the
answer into 504 naming it. ``shieldwall events tail`` prints the blocks it sees.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from tests.control.conftest import Reply, http
from tests.support.origin import Origin, OriginResponse, ReceivedRequest
from tests.workers.proc import EdgeProcess, free_port

from shieldwall.cli.main import main as cli_main

pytestmark = pytest.mark.slow

CONFIG = """
workers = 2
data_dir = "data"
[limits]
shutdown_grace = "2s"
[access_log]
path = ""
[[listeners]]
address = "127.0.0.1"
port = {port}
[[zones]]
name = "alpha"
hosts = ["alpha.test", "*.alpha.test"]
[[zones.origins]]
host = "127.0.0.1"
port = {origin}
[[zones.firewall.rules]]
id = "no-admin"
expression = 'starts_with(http.request.uri.path, "/admin")'
action = "block"
[[zones]]
name = "beta"
hosts = ["beta.test"]
[[zones.origins]]
host = "127.0.0.1"
port = {origin}
[control]
enabled = true
port = 0
purge_per_minute = 1000
"""


def _cacheable(req: ReceivedRequest) -> OriginResponse:
    return OriginResponse(
        headers=[("Cache-Control", "public, max-age=600"), ("Cache-Tag", "products")],
        body=b"object " + req.target.encode(),
    )


@dataclass
class Deployment:
    edge: EdgeProcess
    port: int
    api: str
    token: str

    async def call(
        self, method: str, path: str, body: object = None, timeout: float = 10.0
    ) -> Reply:
        return await http(self.api, method, path, token=self.token, body=body, timeout=timeout)

    async def get(self, path: str, host: str = "alpha.test") -> tuple[int, dict[str, str]]:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        async with asyncio.timeout(10):
            raw = await reader.read()
        writer.close()
        head = raw.partition(b"\r\n\r\n")[0].decode("latin-1").split("\r\n")
        hdrs = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in head[1:])}
        return int(head[0].split()[1]), hdrs


def _stored(hdrs: dict[str, str]) -> bool:
    """Did the edge answer from its cache? (RFC 9211 Cache-Status ``hit`` or sw-cache HIT)"""
    status = hdrs.get("cache-status", "").lower()
    return "hit" in status.split(";")[1:] or " hit" in status or hdrs.get("sw-cache") == "HIT"


@pytest.fixture
async def deployment(tmp_path: Path) -> AsyncIterator[Deployment]:
    async with Origin(_cacheable) as origin:  # type: ignore[arg-type]
        cfg, port = tmp_path / "shieldwall.toml", free_port()
        cfg.write_text(CONFIG.format(port=port, origin=origin.port))
        edge = EdgeProcess(["-m", "shieldwall", "run", "-c", str(cfg)])
        try:
            token = (await asyncio.to_thread(edge.wait_for, r"^\s+(swt_\S+)$")).group(1)
            m = await asyncio.to_thread(
                edge.wait_for, r"ready version=1 workers=2 .* control=(\S+)"
            )
            yield Deployment(edge, port, m.group(1), token)
        finally:
            assert await asyncio.to_thread(edge.close) == 0


def _workers(pid: int, control_pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(c) for c in f.read().split() if int(c) != control_pid]


async def test_purge_reaches_every_worker(
    deployment: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    d = deployment
    url = f"http://alpha.test:{d.port}/products/1"
    assert (await d.get("/products/1"))[0] == 200
    _, hdrs = await d.get("/products/1")
    stored = 1 if _stored(hdrs) else 0  # 0 until the data path serves from the cache

    r = await d.call("POST", "/api/v1/zones/alpha/purge", {"urls": [url]})
    assert r.status == 200, r.body
    assert r.json["status"] == "done" and r.json["kind"] == "urls"
    assert sorted(w["worker"] for w in r.json["workers"]) == [0, 1]
    assert all(isinstance(w["count"], int) for w in r.json["workers"])
    assert r.json["purged"] == stored
    _, hdrs = await d.get("/products/1")
    assert not _stored(hdrs)  # the next request goes to the origin again

    # a URL without a port covers the listener's port too; prefix, host, tag, everything
    for body in (
        {"prefixes": ["http://alpha.test/products/"]},
        {"hosts": ["alpha.test", "shop.alpha.test"]},
        {"tags": ["products"]},
        {"everything": True},
    ):
        r = await d.call("POST", "/api/v1/zones/alpha/purge", body)
        assert r.status == 200, (body, r.body)
        assert [w["worker"] for w in r.json["workers"]] == [0, 1]
    assert r.json["workers"][0]["skipped"] == ["*.alpha.test"]  # wildcards are not enumerable

    # confined to the zone: another zone's host, or no path on a prefix, is refused
    r = await d.call(
        "POST", "/api/v1/zones/alpha/purge", {"urls": ["http://beta.test/x", "https://alpha.test/"]}
    )
    assert r.status == 422 and [e["path"] for e in r.json["errors"]] == ["urls[0]"]
    r = await d.call("POST", "/api/v1/zones/alpha/purge", {"prefixes": ["http://alpha.test"]})
    assert r.status == 422 and r.json["errors"][0]["path"] == "prefixes[0]"

    rows = (await d.call("GET", "/api/v1/zones/alpha/purges")).json["purges"]
    assert [p["status"] for p in rows] == ["done"] * 5
    audit = (await d.call("GET", "/api/v1/audit?action=purge.request")).json["entries"]
    assert len(audit) == 5
    assert {e["detail"]["status"] for e in audit} == {"done"}
    assert audit[0]["detail"]["kind"] == "urls" and len(audit[0]["detail"]["workers"]) == 2

    auth = ("--api", d.api, "--token", d.token)
    argv = ["purge", "alpha", "--prefix", "http://alpha.test/", *auth]
    assert await asyncio.to_thread(cli_main, argv) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("purge 6 (prefixes, zone alpha): 0 objects removed on 2 workers")
    assert [x.split(":")[0].strip() for x in out[1:]] == ["worker 0", "worker 1"]
    argv = ["purge", "alpha", "--url", "http://beta.test/", *auth]
    assert await asyncio.to_thread(cli_main, argv) == 1
    assert "urls[0]: host beta.test does not belong to zone alpha" in capsys.readouterr().err


async def test_a_stopped_worker_makes_the_purge_incomplete(deployment: Deployment) -> None:
    d = deployment
    control_pid = (await d.call("GET", "/api/v1/health")).json["pid"]
    victim = _workers(d.edge.proc.pid, control_pid)[0]
    os.kill(victim, signal.SIGSTOP)
    try:
        # the supervisor's deadline (PURGE_DEADLINE, 10 s) answers for the stopped worker
        r = await d.call("POST", "/api/v1/zones/alpha/purge", {"everything": True}, timeout=30)
    finally:
        os.kill(victim, signal.SIGCONT)
    assert r.status == 504, r.body
    assert "incomplete" in r.json["detail"] and len(r.json["errors"]) == 1
    assert "no answer within" in r.json["errors"][0]["reason"]
    rows = (await d.call("GET", "/api/v1/zones/alpha/purges")).json["purges"]
    assert rows[0]["status"] == "incomplete"
    # the late answer is dropped; the next purge is complete again
    r = await d.call("POST", "/api/v1/zones/alpha/purge", {"everything": True})
    assert r.status == 200 and len(r.json["workers"]) == 2


async def test_events_tail_follows_blocks(
    deployment: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    d = deployment
    auth = ("--api", d.api, "--token", d.token)
    # a fresh plane has seen no event: following from id 0 makes the start race-free (events
    # that happen before the first stream request are still newer than 0)
    tail = asyncio.create_task(
        asyncio.to_thread(
            cli_main,
            [
                "events",
                "tail",
                "--zone",
                "alpha",
                "--action",
                "block",
                "--count",
                "3",
                "--duration",
                "40",
                "--after",
                "0",
                "--json",
                *auth,
            ],
        )
    )
    assert (await d.get("/admin/x", host="beta.test"))[0] == 200  # other zone: no rule
    for i in range(3):
        assert (await d.get(f"/admin/{i}"))[0] == 403
    assert await asyncio.wait_for(tail, 40) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert len(lines) == 3
    assert {e["zone"] for e in lines} == {"alpha"} and {e["action"] for e in lines} == {"block"}
    assert lines[0]["rule"] == "no-admin" and lines[0]["path"].startswith("/admin/")
    assert lines[0]["id"] < lines[1]["id"] < lines[2]["id"]
