"""Start, pin, account and stop the processes a benchmark needs.

Invariants:
- every child runs in its own session/process group (``start_new_session``), so stopping it
  also stops the workers it forked; :class:`ProcessSet` stops everything it started, in reverse
  order, even when the benchmark raises;
- readiness is "the TCP port accepts a connection", polled until a deadline, failing early
  (with the log tail) if the process exits;
- CPU accounting reads ``/proc/PID/stat`` (utime+stime+cutime+cstime, fields 14-17) of the
  root process and every live descendant. Counting ``cutime/cstime`` keeps the total monotonic
  when a child exits and is reaped during a run (its time moves into the parent's c-fields).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

__all__ = [
    "CLK_TCK",
    "ProcStat",
    "ProcessSet",
    "Server",
    "busiest_pid",
    "free_port",
    "parse_proc_stat",
    "read_smaps_rollup",
    "tree_cpu_seconds",
    "tree_pids",
    "wait_port",
]

CLK_TCK = os.sysconf("SC_CLK_TCK")
STOP_GRACE_S = 5.0  # SIGTERM -> SIGKILL escalation delay
READY_POLL_S = 0.05  # interval between readiness probes


@dataclass(frozen=True, slots=True)
class ProcStat:
    pid: int
    comm: str
    state: str
    ppid: int
    utime: int  # clock ticks
    stime: int
    cutime: int  # waited-for children
    cstime: int

    @property
    def total_ticks(self) -> int:
        return self.utime + self.stime + self.cutime + self.cstime


def parse_proc_stat(text: str) -> ProcStat:
    """Parse one ``/proc/PID/stat`` line; ``comm`` may contain spaces and parentheses."""
    lpar = text.index("(")
    rpar = text.rindex(")")
    pid = int(text[:lpar].strip())
    comm = text[lpar + 1 : rpar]
    rest = text[rpar + 2 :].split()
    # rest[0] is field 3 (state); field N is rest[N - 3].
    return ProcStat(
        pid=pid,
        comm=comm,
        state=rest[0],
        ppid=int(rest[1]),
        utime=int(rest[11]),
        stime=int(rest[12]),
        cutime=int(rest[13]),
        cstime=int(rest[14]),
    )


def _read_stat(pid: int) -> ProcStat | None:
    try:
        return parse_proc_stat(Path(f"/proc/{pid}/stat").read_text())
    except (FileNotFoundError, ProcessLookupError):
        return None


def _all_stats() -> Iterator[ProcStat]:
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            st = _read_stat(int(entry.name))
            if st is not None:
                yield st


def tree_pids(root: int) -> list[int]:
    """``root`` and all its live descendants (scan of /proc by parent pid)."""
    children: dict[int, list[int]] = {}
    for st in _all_stats():
        children.setdefault(st.ppid, []).append(st.pid)
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, ()))
    return out


def tree_cpu_seconds(root: int) -> float:
    """CPU seconds (user+system) used so far by ``root``'s process tree."""
    ticks = 0
    for pid in tree_pids(root):
        st = _read_stat(pid)
        if st is not None:
            ticks += st.total_ticks
    return ticks / CLK_TCK


def busiest_pid(root: int) -> int:
    """The process of ``root``'s tree with the most CPU so far (a supervisor's busy worker)."""
    best, best_ticks = root, -1
    for pid in tree_pids(root):
        st = _read_stat(pid)
        if st is not None and st.utime + st.stime > best_ticks:
            best, best_ticks = pid, st.utime + st.stime
    return best


def read_smaps_rollup(pid: int) -> dict[str, int]:
    """``/proc/PID/smaps_rollup`` as ``{field: bytes}`` (Rss, Pss, Private_Dirty, ...)."""
    out: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        key, _, rest = line.partition(":")
        parts = rest.split()
        if len(parts) == 2 and parts[1] == "kB":
            out[key] = int(parts[0]) * 1024
    return out


def free_port() -> int:
    """A currently free loopback port (tiny race until the server binds it; fine for a bench)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_port(port: int, deadline_s: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Poll until 127.0.0.1:``port`` accepts, ``proc`` exits, or the deadline passes."""
    end = time.monotonic() + deadline_s
    while True:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening")
        with socket.socket() as s:
            s.settimeout(0.5)
            try:
                s.connect(("127.0.0.1", port))
                return
            except OSError:
                pass
        if time.monotonic() > end:
            raise TimeoutError(f"port {port} not ready after {deadline_s}s")
        time.sleep(READY_POLL_S)


@dataclass(slots=True)
class Server:
    """A started server: its root process, port, and the log file holding its output."""

    name: str
    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path
    info: dict[str, str] = field(default_factory=dict)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def pids(self) -> list[int]:
        return tree_pids(self.proc.pid)

    def cpu_seconds(self) -> float:
        return tree_cpu_seconds(self.proc.pid)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except FileNotFoundError:
            return ""

    def stop(self) -> None:
        _stop_group(self.proc)


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # stray grandchildren of a dead root
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(STOP_GRACE_S)  # graceful stop; escalate below if it did not happen
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(STOP_GRACE_S)


class ProcessSet:
    """Owns started servers; ``with ProcessSet() as ps:`` stops them all on exit."""

    def __init__(self) -> None:
        self._servers: list[Server] = []

    def start(
        self,
        name: str,
        argv: Sequence[str],
        *,
        port: int,
        log_path: Path,
        cpu: int | None = None,
        ready_s: float = 15.0,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> Server:
        cmd = list(argv)
        if cpu is not None:
            cmd = ["taskset", "-c", str(cpu), *cmd]
        log = log_path.open("wb")
        try:
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env=env,
                cwd=cwd,
            )
        finally:
            log.close()
        server = Server(name, proc, port, log_path)
        self._servers.append(server)
        try:
            wait_port(port, ready_s, proc)
        except (RuntimeError, TimeoutError) as exc:
            raise RuntimeError(f"{name} failed to start: {exc}\n{server.log_tail()}") from exc
        return server

    def stop(self, server: Server) -> None:
        server.stop()
        if server in self._servers:
            self._servers.remove(server)

    def stop_all(self) -> None:
        while self._servers:
            self._servers.pop().stop()

    def __enter__(self) -> ProcessSet:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop_all()
