"""Shared pieces of the shield scenarios (``ratelimit``, ``ban``, ``attack``).

Servers: nginx with the anchor ``http{}`` block plus a scenario-specific ``server{}`` block,
shieldwall via the real CLI with extra TOML appended to the harness's one-zone config, and a
static nginx origin that logs each request (so the origin's request rate can be counted).
Clients: ``bench.scenarios.shield_clients`` run as a subprocess pinned to the load CPU.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.contenders import LOAD_CPU, SERVER_CPU, SHIELDWALL_READY_S, _pythonpath, shieldwall_toml
from bench.nginx import _main_block, nginx_argv
from bench.procs import ProcessSet, Server, free_port
from bench.profile import profile_during

__all__ = [
    "profile_during",
    "run_client",
    "run_clients",
    "start_logging_origin",
    "start_nginx_with",
    "start_shieldwall_with",
]

CLIENT_GRACE_S = 30.0  # beyond the client's own duration before it is killed


def start_nginx_with(
    procs: ProcessSet, tmp: Path, name: str, origin_port: int, http_extra: str, location: str
) -> Server:
    port = free_port()
    conf = tmp / f"{name}.conf"
    conf.write_text(
        _main_block(tmp, name)
        + http_extra
        + f"  upstream origin {{\n    server 127.0.0.1:{origin_port};\n"
        + "    keepalive 128;\n    keepalive_requests 10000000;\n  }\n"
        + f"  server {{\n    listen 127.0.0.1:{port} backlog=4096;\n    location / {{\n"
        + location
        + "    }\n  }\n}\n"
    )
    return procs.start(
        name, nginx_argv(tmp, conf, name), port=port, log_path=tmp / f"{name}.out", cpu=SERVER_CPU
    )


PROXY_LOCATION = (
    "      proxy_pass http://origin;\n      proxy_http_version 1.1;\n"
    '      proxy_set_header Connection "";\n'
)


def start_shieldwall_with(
    procs: ProcessSet, tmp: Path, origin_port: int, extra: str, *, cache: bool = True
) -> Server:
    port = free_port()
    data_dir = tmp / "shieldwall-data"
    data_dir.mkdir(exist_ok=True)
    conf = tmp / "shieldwall.toml"
    conf.write_text(
        shieldwall_toml(
            port=port, origin_port=origin_port, data_dir=data_dir, access_log="", cache=cache
        )
        + extra
    )
    return procs.start(
        "shieldwall",
        [sys.executable, "-m", "shieldwall", "run", "-c", str(conf)],
        port=port,
        log_path=tmp / "shieldwall.out",
        cpu=SERVER_CPU,
        ready_s=SHIELDWALL_READY_S,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": _pythonpath()},
        cwd=tmp,
    )


def start_logging_origin(procs: ProcessSet, tmp: Path) -> tuple[Server, Path]:
    """A static nginx origin on the load CPU serving /1k.bin, logging every request."""
    docroot = tmp / "docroot"
    docroot.mkdir(parents=True, exist_ok=True)
    (docroot / "1k.bin").write_bytes((b"shieldwall-bench" * 64)[:1024])
    log = tmp / "origin-access.log"
    port = free_port()
    conf = tmp / "origin.conf"
    conf.write_text(
        _main_block(tmp, "origin").replace("  access_log off;\n", f"  access_log {log};\n")
        + f"  server {{\n    listen 127.0.0.1:{port} backlog=4096;\n"
        + f"    root {docroot};\n  }}\n}}\n"
    )
    server = procs.start(
        "origin", nginx_argv(tmp, conf, "origin"), port=port, log_path=tmp / "origin.out",
        cpu=LOAD_CPU,
    )  # fmt: skip
    return server, log


def count_lines(path: Path) -> int:
    try:
        with path.open("rb") as f:
            return sum(1 for _ in f)
    except FileNotFoundError:
        return 0


def _client_argv(mode: str, port: int, duration: float, *extra: str) -> list[str]:
    argv = ["taskset", "-c", str(LOAD_CPU), sys.executable, "-m", "bench.scenarios.shield_clients"]
    return [*argv, mode, "--port", str(port), "--duration", str(duration), *extra]


def run_client(mode: str, port: int, duration: float, *extra: str) -> dict[str, Any]:
    return run_clients([(mode, port, duration, extra)])[0]


def run_clients(
    specs: list[tuple[str, int, float, tuple[str, ...]]],
) -> list[dict[str, Any]]:
    """Run one ``shield_clients`` process per ``(mode, port, duration, extra)`` at the same
    time (all pinned to the load CPU); return their JSON results in order."""
    repo = str(Path(__file__).resolve().parents[2])
    procs = [
        subprocess.Popen(
            _client_argv(mode, port, duration, *extra),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=repo,
        )
        for mode, port, duration, extra in specs
    ]
    outs: list[dict[str, Any]] = []
    try:
        for proc, (_, _, duration, _) in zip(procs, specs, strict=True):
            out, err = proc.communicate(timeout=duration + CLIENT_GRACE_S)
            if proc.returncode != 0:
                raise RuntimeError(f"client failed: {err[-2000:]}")
            outs.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return outs
