"""Build and run ``bench/connflood.c``: a connection-per-request client that can saturate a
server refusing connections (the ``ban`` scenario).

Why C: the uvloop client (``shield_clients conn``) tops out near ~20k new connections/s on its
own core, below what either server refuses, so the figure measured the client. ``connflood``
is an epoll loop over non-blocking sockets: connect, write a request, wait for the close,
reset (``SO_LINGER`` 0, no ``TIME_WAIT``). Several processes, all pinned to the load CPU, each
with its own slice of source addresses (``127.64.x.y``), share that core.

``run_connflood(port, duration, processes, concurrency, sources)`` returns the summed counts
and ``conn_per_s`` (connections closed / the longest process's elapsed time). Bounded: each
process stops after ``duration`` seconds or ``MAX_CONNECTIONS_PER_PROC``.
"""

from __future__ import annotations

import ipaddress
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any, Final

from bench.contenders import LOAD_CPU

__all__ = ["FIRST_SOURCE", "build_connflood", "run_connflood", "source_addresses"]

SOURCE: Final = Path(__file__).with_name("connflood.c")
FIRST_SOURCE: Final = int(ipaddress.IPv4Address("127.64.0.1"))
MAX_CONNECTIONS_PER_PROC: Final = 5_000_000
GRACE_S: Final = 15.0  # beyond the duration before a client process is killed


def source_addresses(count: int) -> list[str]:
    """The loopback addresses the clients bind, in order (what the server must ban)."""
    return [str(ipaddress.IPv4Address(FIRST_SOURCE + i)) for i in range(count)]


def build_connflood(out_dir: Path) -> Path:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        raise SystemExit("the C client needs a C compiler (cc/gcc); or use --client py")
    exe = out_dir / "connflood"
    subprocess.run([cc, "-O2", "-Wall", "-o", str(exe), str(SOURCE)], check=True)
    return exe


def run_connflood(
    exe: Path, port: int, duration: float, processes: int, concurrency: int, sources: int
) -> dict[str, Any]:
    per = max(1, sources // processes)
    procs = []
    for p in range(processes):
        argv = ["taskset", "-c", str(LOAD_CPU), str(exe), str(port), str(duration)]
        argv += [str(MAX_CONNECTIONS_PER_PROC), str(concurrency), str(FIRST_SOURCE + p * per)]
        argv += [str(per)]
        procs.append(subprocess.Popen(argv, stdout=subprocess.PIPE, text=True))
    outs = []
    try:
        for proc in procs:
            out, _ = proc.communicate(timeout=duration + GRACE_S)
            if proc.returncode != 0:
                raise RuntimeError(f"connflood exited {proc.returncode}")
            outs.append(json.loads(out.strip().splitlines()[-1]))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    total: dict[str, Any] = {
        k: sum(o[k] for o in outs) for k in ("connections", "refused", "answered", "connect_errors")
    }
    elapsed = max(o["elapsed_s"] for o in outs)
    total["elapsed_s"] = elapsed
    total["conn_per_s"] = round((total["refused"] + total["answered"]) / elapsed, 1)
    total["processes"] = processes
    return total
