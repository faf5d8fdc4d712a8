"""Sample a Python server with py-spy during a load run and rank its hot spots.

``py-spy record --format raw`` writes collapsed stacks, one line per distinct stack:
``outer (file:line);...;leaf (file:line) COUNT``. Frames are aggregated per function and file
(line numbers dropped). *Self* counts a sample for the leaf frame only; *inclusive* counts it
once for every distinct function on the stack. Percentages are of all samples py-spy kept;
py-spy drops idle samples (the loop waiting in epoll), so ``samples / (rate * seconds)``
approximates how busy the process was.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "Profile",
    "parse_collapsed",
    "profile_during",
    "profile_server",
    "pyspy_available",
    "start_pyspy",
]

PYSPY_RATE = 250  # samples per second
PYSPY_GRACE_S = 30.0  # py-spy may take a while to attach and write its output
TOP_N = 20  # rows per top list
_FRAME_RE = re.compile(r"^(?P<func>.*) \((?P<file>[^():]*)(?::(?P<line>\d+))?\)$")


@dataclass(frozen=True, slots=True)
class Profile:
    samples: int
    self_counts: Counter[str]
    inclusive_counts: Counter[str]
    self_line_counts: Counter[str]  # leaf frames with their line number

    def top(
        self, n: int = 15, *, inclusive: bool = False, lines: bool = False
    ) -> list[dict[str, object]]:
        counts = self.self_counts
        if lines:
            counts = self.self_line_counts
        elif inclusive:
            counts = self.inclusive_counts
        return [
            {"function": fn, "pct": round(100.0 * c / self.samples, 1) if self.samples else 0.0}
            for fn, c in counts.most_common(n)
        ]


def _frame_key(frame: str, *, keep_line: bool = False) -> str:
    m = _FRAME_RE.match(frame.strip())
    if m is None:
        return frame.strip()
    file = m.group("file")
    line = m.group("line") if keep_line else None
    # Shorten site-packages / repo paths to the part that names the module.
    for marker in ("site-packages/", "/src/", "/lib/python3"):
        if marker in file:
            file = file.split(marker, 1)[1]
            break
    return f"{m.group('func')} ({file}:{line})" if line else f"{m.group('func')} ({file})"


def parse_collapsed(text: str) -> Profile:
    self_counts: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    self_lines: Counter[str] = Counter()
    total = 0
    for line in text.splitlines():
        stack, _, count_s = line.rstrip().rpartition(" ")
        if not stack or not count_s.isdigit():
            continue
        count = int(count_s)
        raw = [f for f in stack.split(";") if f]
        if not raw:
            continue
        frames = [_frame_key(f) for f in raw]
        self_lines[_frame_key(raw[-1], keep_line=True)] += count
        total += count
        self_counts[frames[-1]] += count
        for fn in set(frames):
            incl[fn] += count
    return Profile(total, self_counts, incl, self_lines)


def pyspy_available() -> bool:
    return shutil.which("py-spy") is not None


def start_pyspy(pid: int, duration_s: float, out: Path) -> subprocess.Popen[bytes]:
    """Start ``py-spy record`` (non-blocking sampling) on ``pid`` for ``duration_s``."""
    return subprocess.Popen(
        [
            "py-spy",
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(max(1, round(duration_s))),
            "--rate",
            str(PYSPY_RATE),
            "--format",
            "raw",
            "--nonblocking",
            "-o",
            str(out),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )


def profile_during(
    server: Any, duration: float, load: Callable[[], object], out: Path
) -> dict[str, Any]:
    """py-spy the server's busiest process (the worker) while ``load()`` runs; print top lists
    (self and inclusive by function, self by line) and return them."""
    from bench.procs import busiest_pid
    from bench.report import fmt_table

    if not pyspy_available():
        raise SystemExit("--profile needs py-spy (pip install py-spy)")
    pid = busiest_pid(server.pid)
    spy = start_pyspy(pid, duration, out)
    try:
        load()
        _, err = spy.communicate(timeout=duration + PYSPY_GRACE_S)
    finally:
        if spy.poll() is None:
            spy.kill()
            spy.wait()
    if spy.returncode != 0 or not out.exists():
        raise RuntimeError(f"py-spy failed: {err.decode(errors='replace')[-500:]}")
    prof = parse_collapsed(out.read_text())
    busy = prof.samples / (PYSPY_RATE * duration)
    print(f"\npy-spy on {server.name} pid {pid}: {prof.samples} samples (~{busy:.0%} busy)")
    tops = {
        "top_self": prof.top(TOP_N),
        "top_inclusive": prof.top(TOP_N, inclusive=True),
        "top_self_lines": prof.top(TOP_N, lines=True),
    }
    for title, rows in tops.items():
        print(
            fmt_table([f"{title} %", "function (file)"], [[t["pct"], t["function"]] for t in rows])
        )
        print()
    return {"pid": pid, "samples": prof.samples, "busy_fraction": round(busy, 2), **tops}


def profile_server(
    server: Any,
    label: str,
    url: str,
    headers: list[str],
    duration_s: float,
    connections: int,
    tmp: Path,
    script: str | None = None,
) -> dict[str, Any]:
    """``profile_during`` one wrk run of ``url`` (``label`` names the load; ``script``: a
    wrk Lua script, e.g. ``wrk.varying_path_script``)."""
    from bench.wrk import run_wrk

    rps: list[float] = []

    def load() -> None:
        res = run_wrk(
            url, duration_s=duration_s, connections=connections, headers=headers, script=script
        )
        rps.append(res.rps)

    out = tmp / f"pyspy-{server.name}-{label}.txt"
    prof = profile_during(server, duration_s, load, out)
    print(f"(load {label}: {rps[0]:,.0f} rps under profiling)")
    return {"server": server.name, "load": label, "rps": rps[0], **prof}
