"""Bans through a real ``shieldwall run`` (2 workers + control sidecar): list and lift.

A client on 127.0.0.2 goes over the per-IP cap (``per_ip_action = "ban"``) and is refused at
accept; ``GET /api/v1/bans`` shows its ban (and the config ban of an IP access rule) merged
from the workers; ``DELETE`` lifts it on every worker and the client is served again. A
config ban is refused with 409, an unknown target is 404, and only an admin token may do
either. ``shieldwall bans list|lift`` go through the same endpoints.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tests.control.conftest import http
from tests.control.test_purge_events_e2e import Deployment
from tests.support.origin import Origin, OriginResponse
from tests.workers.proc import EdgeProcess, free_port

from shieldwall.cli.main import main as cli_main

pytestmark = pytest.mark.slow

CLIENT = "127.0.0.2"
# ``python -m shieldwall`` from this checkout's ``src`` (EdgeProcess's PYTHONPATH is the
# checkout root, so an installed editable copy elsewhere would otherwise win)
RUN = (
    "-c",
    "import runpy, sys; sys.path.insert(0, 'src');"
    " runpy.run_module('shieldwall', run_name='__main__')",
)
# inline tables keep the deployment to the lines that matter here
CONFIG = """
workers = 2
data_dir = "data"
limits = {{shutdown_grace = "2s"}}
access_log = {{path = ""}}
listeners = [{{address = "127.0.0.1", port = {port}}}]
control = {{enabled = true, port = 0}}
[shield]
per_ip_requests = 3
per_ip_period = "60s"
per_ip_action = "ban"
ban_duration = "600s"
ip_access_rules = [{{id = "bad-net", mode = "block", kind = "cidr", value = "192.0.2.0/24"}}]
[[zones]]
name = "alpha"
hosts = ["alpha.test"]
origins = [{{host = "127.0.0.1", port = {origin}}}]
"""


async def _from_client(port: int) -> int | None:
    """One request from ``CLIENT``: its status, or None when the edge closed at once."""
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(CLIENT, 0))
    except ConnectionError:
        return None
    try:
        writer.write(b"GET / HTTP/1.1\r\nHost: alpha.test\r\nConnection: close\r\n\r\n")
        async with asyncio.timeout(10):
            raw = await reader.read()
    except ConnectionError:
        return None
    finally:
        writer.close()
    return int(raw.split(b" ", 2)[1]) if raw.startswith(b"HTTP/1.1 ") else None


@pytest.fixture
async def deployment(tmp_path: Path) -> AsyncIterator[Deployment]:
    cfg, port = tmp_path / "shieldwall.toml", free_port()
    async with Origin(lambda req: OriginResponse(body=b"hello")) as origin:  # type: ignore[arg-type]
        cfg.write_text(CONFIG.format(port=port, origin=origin.port))
        edge = EdgeProcess([*RUN, "run", "-c", str(cfg)])
        try:
            lines = [r"^\s+(swt_\S+)$", r"ready version=1 workers=2 .* control=(\S+)"]
            token, api = [(await asyncio.to_thread(edge.wait_for, x)).group(1) for x in lines]
            yield Deployment(edge, port, api, token)
        finally:
            assert await asyncio.to_thread(edge.close) == 0


async def test_a_ban_is_listed_and_lifted(
    deployment: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    d = deployment
    statuses = [await _from_client(d.port) for _ in range(6)]  # bounded: the cap is 3 per minute
    assert statuses[0] == 200 and statuses[-1] is None, statuses  # banned at accept
    assert await _from_client(d.port) is None

    r = await d.call("GET", "/api/v1/bans")
    assert r.status == 200, r.body
    by_target = {b["target"]: b for b in r.json["bans"]}
    assert set(by_target) == {CLIENT, "192.0.2.0/24"}
    mine, rule = by_target[CLIENT], by_target["192.0.2.0/24"]
    assert mine["source"] == "dynamic" and 0 < mine["seconds_left"] <= 600
    assert len(mine["workers"]) == 1  # the worker the client's address is steered to
    assert rule["source"] == "config" and rule["seconds_left"] is None
    assert sorted(rule["workers"]) == [0, 1]  # every worker provisions the config bans
    assert r.json["total"] == 2 and r.json["truncated"] is False and r.json["errors"] == []

    # a read-only token may neither list nor lift; a config ban is not liftable here
    body = {"name": "ro", "zones": None, "read_only": True}
    ro = (await http(d.api, "POST", "/api/v1/tokens", token=d.token, body=body)).json["token"]
    assert (await http(d.api, "GET", "/api/v1/bans", token=ro)).status == 403
    assert (await http(d.api, "DELETE", f"/api/v1/bans/{CLIENT}", token=ro)).status == 403
    r = await d.call("DELETE", "/api/v1/bans/192.0.2.0/24")
    assert r.status == 409 and "edit or delete the rule" in r.json["detail"], r.body
    assert (await d.call("DELETE", "/api/v1/bans/198.51.100.9")).status == 404
    assert (await d.call("DELETE", "/api/v1/bans/not-an-ip")).status == 400
    assert await _from_client(d.port) is None  # nothing above lifted the client's ban

    r = await d.call("DELETE", f"/api/v1/bans/{CLIENT}")
    assert r.status == 200, r.body
    assert r.json["lifted"] == 1 and r.json["complete"] is True
    assert sorted(w["worker"] for w in r.json["workers"]) == [0, 1]
    assert await _from_client(d.port) == 200  # served again: the lift also reset its per-IP count
    assert (await d.call("DELETE", f"/api/v1/bans/{CLIENT}")).status == 404

    audit = (await d.call("GET", "/api/v1/audit?action=ban.lift")).json["entries"]
    assert [(e["target"], e["detail"]["status"]) for e in audit] == [
        ("192.0.2.0/24", 409),
        ("198.51.100.9", 404),
        (CLIENT, 200),
        (CLIENT, 404),
    ]  # fmt: skip (oldest first; the 400 never reached the edge)

    auth = ("--api", d.api, "--token", d.token)
    assert await asyncio.to_thread(cli_main, ["bans", "list", *auth]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["TARGET", "LEFT", "SOURCE", "WORKERS"]
    assert out[1].split() == ["192.0.2.0/24", "permanent", "config", "0,1"]
    assert out[-1] == "1 bans"
    assert await asyncio.to_thread(cli_main, ["bans", "lift", "192.0.2.0/24", *auth]) == 1
    assert "HTTP 409" in capsys.readouterr().err
