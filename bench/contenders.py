"""The servers a scenario can start: the static origin and the proxies under test.

``CONTENDERS`` maps a name to a starter; each starter renders its own config into the run's
temp directory, pins the server to the server CPU and waits until its port accepts.

shieldwall runs as the real CLI (``python -m shieldwall run -c FILE``) with one worker; its
access log is either off or written to a file in the temp dir (never stdout, whose pipe would
throttle it) and the choice is recorded in the results because logging costs CPU per request.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from bench.nginx import haproxy_config, nginx_argv, origin_config, proxy_config
from bench.procs import ProcessSet, Server, free_port

__all__ = [
    "CONTENDERS",
    "FILES",
    "BenchEnv",
    "shieldwall_toml",
    "start_origin",
]

LOAD_CPU = 0  # wrk, origin, idle client
SERVER_CPU = 1  # the server under test
FILES = {"/1k.bin": 1024, "/64k.bin": 64 * 1024}  # path -> size served by the origin
SHIELDWALL_READY_S = 30.0  # python start-up + worker fork on a loaded machine

AccessLog = Literal["off", "file"]


@dataclass(frozen=True, slots=True)
class BenchEnv:
    tmp: Path
    procs: ProcessSet
    origin_port: int
    access_log: AccessLog = "off"
    shieldwall_cmd: tuple[str, ...] = (sys.executable, "-m", "shieldwall")


def start_origin(procs: ProcessSet, tmp: Path) -> Server:
    docroot = tmp / "docroot"
    docroot.mkdir(parents=True, exist_ok=True)
    for path, size in FILES.items():
        # Printable, non-repeating-at-a-glance content; deterministic across runs.
        (docroot / path.lstrip("/")).write_bytes((b"shieldwall-bench" * (size // 16 + 1))[:size])
    port = free_port()
    conf = tmp / "origin.conf"
    conf.write_text(origin_config(tmp, port=port, docroot=docroot))
    return procs.start(
        "origin",
        nginx_argv(tmp, conf, "origin"),
        port=port,
        log_path=tmp / "origin.out",
        cpu=LOAD_CPU,
    )


def _start_nginx(env: BenchEnv, name: str) -> Server:
    port = free_port()
    conf = env.tmp / f"{name}.conf"
    conf.write_text(proxy_config(env.tmp, name=name, port=port, origin_port=env.origin_port))
    return env.procs.start(
        name,
        nginx_argv(env.tmp, conf, name),
        port=port,
        log_path=env.tmp / f"{name}.out",
        cpu=SERVER_CPU,
    )


def start_nginx(env: BenchEnv) -> Server:
    return _start_nginx(env, "nginx")


def start_nginx_b(env: BenchEnv) -> Server:
    """A second, identical nginx: the placeholder B column while developing the harness."""
    return _start_nginx(env, "nginx_b")


def start_haproxy(env: BenchEnv) -> Server:
    port = free_port()
    conf = env.tmp / "haproxy.cfg"
    conf.write_text(haproxy_config(port=port, origin_port=env.origin_port))
    return env.procs.start(
        "haproxy",
        ["haproxy", "-db", "-f", str(conf)],
        port=port,
        log_path=env.tmp / "haproxy.out",
        cpu=SERVER_CPU,
    )


def _toml_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def shieldwall_toml(
    *, port: int, origin_port: int, data_dir: Path, access_log: str, cache: bool = True
) -> str:
    """One worker, one listener, one zone for the loopback Host names, one origin.

    ``cache=False`` turns the zone's cache off: the pass-through comparison with nginx's
    ``proxy_pass`` anchor (which caches nothing) must not be answered from shieldwall's cache.
    """
    return (
        "workers = 1\n"
        f"data_dir = {_toml_str(str(data_dir))}\n"
        'log_level = "warning"\n\n'
        "[access_log]\n"
        f"path = {_toml_str(access_log)}\n\n"
        "[[listeners]]\n"
        'address = "127.0.0.1"\n'
        f"port = {port}\n\n"
        "[[zones]]\n"
        'name = "bench"\n'
        'hosts = ["127.0.0.1", "localhost"]\n\n'
        "[[zones.origins]]\n"
        'host = "127.0.0.1"\n'
        f"port = {origin_port}\n" + ("" if cache else "\n[zones.cache]\nenabled = false\n")
    )


def _pythonpath() -> str:
    """The repo root first (cwd is the temp dir), so ``bench.*`` stand-ins import too."""
    repo = str(Path(__file__).resolve().parents[1])
    rest = os.environ.get("PYTHONPATH", "")
    return f"{repo}{os.pathsep}{rest}" if rest else repo


def start_shieldwall(env: BenchEnv) -> Server:
    port = free_port()
    data_dir = env.tmp / "shieldwall-data"
    data_dir.mkdir(exist_ok=True)
    log_target = str(env.tmp / "shieldwall-access.log") if env.access_log == "file" else ""
    conf = env.tmp / "shieldwall.toml"
    conf.write_text(
        shieldwall_toml(
            port=port,
            origin_port=env.origin_port,
            data_dir=data_dir,
            access_log=log_target,
            cache=False,
        )
    )
    server = env.procs.start(
        "shieldwall",
        [*env.shieldwall_cmd, "run", "-c", str(conf)],
        port=port,
        log_path=env.tmp / "shieldwall.out",
        cpu=SERVER_CPU,
        ready_s=SHIELDWALL_READY_S,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": _pythonpath()},
        cwd=env.tmp,
    )
    server.info["access_log"] = env.access_log
    return server


def start_placeholder(env: BenchEnv) -> Server:
    """``bench.placeholder`` (a TCP relay) launched exactly like shieldwall."""
    from dataclasses import replace

    server = start_shieldwall(
        replace(env, shieldwall_cmd=(sys.executable, "-m", "bench.placeholder"))
    )
    server.name = "placeholder"
    return server


CONTENDERS: dict[str, Callable[[BenchEnv], Server]] = {
    "nginx": start_nginx,
    "nginx_b": start_nginx_b,
    "haproxy": start_haproxy,
    "shieldwall": start_shieldwall,
    "placeholder": start_placeholder,
}
