"""The process model end to end (subprocess), with a stand-in server instead of the data path.

What is checked: readiness line, CBPF steering across processes, kill -9 -> restart on the same
socket slot, SIGHUP with a bad / listener-changing / good config, SIGTERM draining an in-flight
request, the access log written by the workers.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.workers.proc import EdgeProcess, free_port, http_get

from shieldwall.edge.reuseport import steer_index

CONFIG = """
workers = 2
log_level = "info"
[limits]
shutdown_grace = "10s"
[access_log]
path = "{log}"
flush_interval = "50ms"
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
port = 9
"""


def write_config(path: Path, port: int, zones: list[str]) -> None:
    text = CONFIG.format(
        log=path.parent / "access.log", port=port, zones="".join(ZONE.format(name=z) for z in zones)
    )
    path.write_text(text)


@pytest.fixture
def edge(tmp_path: Path) -> Iterator[tuple[EdgeProcess, int, Path]]:
    cfg = tmp_path / "edge.toml"
    port = free_port()
    write_config(cfg, port, ["alpha"])
    p = EdgeProcess(["tests/workers/run_standin.py", str(cfg)])
    try:
        m = p.wait_for(r"ready version=1 workers=2 listeners=127\.0\.0\.1:(\d+)")
        assert int(m.group(1)) == port
        yield p, port, cfg
    finally:
        p.close()


def _pid_of(body: bytes) -> int:
    return int(body.split(b"pid=")[1].split()[0])


def test_serves_steers_and_logs(edge: tuple[EdgeProcess, int, Path]) -> None:
    p, port, cfg = edge
    by_slot: dict[int, set[int]] = {0: set(), 1: set()}
    for i in range(24):
        src = f"127.0.{i}.{i + 10}"
        status, body = http_get(port, "alpha.test", source=src)
        assert status == 200 and body.startswith(b"zone=alpha ")
        by_slot[steer_index(src, 2)].add(_pid_of(body))
    # each slot is one process, and the two slots are different processes
    assert all(len(pids) == 1 for pids in by_slot.values())
    assert by_slot[0] != by_slot[1]
    p.close()
    lines = (cfg.parent / "access.log").read_text().splitlines()
    recs = [json.loads(x) for x in lines]
    assert len(recs) == 24 and {r["zone"] for r in recs} == {"alpha"}


def test_killed_worker_is_restarted_on_the_same_slot(edge: tuple[EdgeProcess, int, Path]) -> None:
    p, port, _ = edge
    src = "127.0.3.3"
    _, body = http_get(port, "alpha.test", source=src)
    old = _pid_of(body)
    os.kill(old, signal.SIGKILL)
    p.wait_for(rf"worker \d \(pid {old}\) killed by SIGKILL")
    p.wait_for(r"serving again, version 1")
    status, body = http_get(port, "alpha.test", source=src)
    assert status == 200 and _pid_of(body) not in (old, 0)


def test_sighup_bad_refused_then_good_applied(edge: tuple[EdgeProcess, int, Path]) -> None:
    p, port, cfg = edge
    good = cfg.read_text()
    cfg.write_text(good.replace('name = "alpha"', 'name = "-bad"'))
    p.signal(signal.SIGHUP)
    p.wait_for(r"reload of .* failed; still serving version 1: .*zones\[0\]\.name")
    assert http_get(port, "alpha.test")[1].startswith(b"zone=alpha ")

    write_config(cfg, free_port(), ["alpha"])  # another port: needs a restart
    p.signal(signal.SIGHUP)
    p.wait_for(r"still serving version 1: listeners: listeners changed: restart")

    write_config(cfg, port, ["alpha", "beta"])
    p.signal(signal.SIGHUP)
    p.wait_for(r"reload complete: version 2 on all workers")
    for i in range(6):  # both workers have it
        status, body = http_get(port, "beta.test", source=f"127.0.9.{i + 1}")
        assert status == 200 and body.startswith(b"zone=beta ") and b"version=2" in body


def test_sigterm_lets_the_inflight_request_finish(edge: tuple[EdgeProcess, int, Path]) -> None:
    p, port, _ = edge
    result: list[tuple[int, bytes]] = []
    t = threading.Thread(target=lambda: result.append(http_get(port, "alpha.test", "/slow/0.5")))
    t.start()
    p.wait_for(r"slow request started")
    p.signal(signal.SIGTERM)
    p.wait_for(r"SIGTERM: stopping")
    t.join(10)
    assert result and result[0][0] == 200 and result[0][1].startswith(b"zone=alpha ")
    assert p.proc.wait(15) == 0
    with pytest.raises(ConnectionRefusedError):
        http_get(port, "alpha.test")
