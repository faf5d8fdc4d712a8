"""Run ``wrk --latency`` and parse its text report.

The parser is pure (text in, :class:`WrkResult` out). Units follow wrk 4.x's printer: latency in
``us|ms|s|m|h``, byte counts with ``B|KB|MB|GB|TB`` (binary multiples), rates with ``k|M|G``
suffixes. A run is *clean* only if there were no socket errors and no non-2xx/3xx answers; an
unclean run is reported and flagged, never silently used.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["WrkResult", "parse_wrk", "run_wrk"]

_TIME_US = {"us": 1.0, "ms": 1e3, "s": 1e6, "m": 60e6, "h": 3600e6}
_TIME_RE = r"([0-9.]+)(us|ms|s|m|h)"
_SUMMARY_RE = re.compile(rf"(\d+) requests in {_TIME_RE}")
_PCT_RE = re.compile(rf"^\s*(50|75|90|99)(?:\.0+)?%\s+{_TIME_RE}\s*$", re.M)
_LAT_RE = re.compile(rf"^\s*Latency\s+{_TIME_RE}", re.M)
_RPS_RE = re.compile(r"^Requests/sec:\s+([0-9.]+)", re.M)
_ERR_RE = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
_NON2XX_RE = re.compile(r"Non-2xx or 3xx responses: (\d+)")
WRK_GRACE_S = 20.0  # beyond the run duration before wrk is considered hung


@dataclass(frozen=True, slots=True)
class WrkResult:
    requests: int
    duration_s: float
    rps: float
    latency_avg_us: float
    p50_us: float
    p75_us: float
    p90_us: float
    p99_us: float
    connect_errors: int = 0
    read_errors: int = 0
    write_errors: int = 0
    timeouts: int = 0
    non2xx: int = 0

    @property
    def errors(self) -> int:
        return self.connect_errors + self.read_errors + self.write_errors + self.timeouts

    @property
    def clean(self) -> bool:
        return self.errors == 0 and self.non2xx == 0 and self.requests > 0


def _us(value: str, unit: str) -> float:
    return float(value) * _TIME_US[unit]


def parse_wrk(text: str) -> WrkResult:
    """Parse a ``wrk --latency`` report; raises ``ValueError`` naming what is missing."""
    summary = _SUMMARY_RE.search(text)
    rps = _RPS_RE.search(text)
    lat = _LAT_RE.search(text)
    pcts = {m.group(1): _us(m.group(2), m.group(3)) for m in _PCT_RE.finditer(text)}
    if summary is None or rps is None or lat is None:
        raise ValueError(f"not a wrk report:\n{text[:500]}")
    missing = {"50", "75", "90", "99"} - pcts.keys()
    if missing:
        raise ValueError(f"wrk report lacks latency percentiles {sorted(missing)} (--latency?)")
    err = _ERR_RE.search(text)
    errs = [int(g) for g in err.groups()] if err else [0, 0, 0, 0]
    non2xx = _NON2XX_RE.search(text)
    return WrkResult(
        requests=int(summary.group(1)),
        duration_s=_us(summary.group(2), summary.group(3)) / 1e6,
        rps=float(rps.group(1)),
        latency_avg_us=_us(lat.group(1), lat.group(2)),
        p50_us=pcts["50"],
        p75_us=pcts["75"],
        p90_us=pcts["90"],
        p99_us=pcts["99"],
        connect_errors=errs[0],
        read_errors=errs[1],
        write_errors=errs[2],
        timeouts=errs[3],
        non2xx=int(non2xx.group(1)) if non2xx else 0,
    )


def wrk_argv(
    url: str,
    *,
    duration_s: float,
    connections: int = 64,
    threads: int = 1,
    headers: Sequence[str] = (),
    cpu: int | None = 0,
    script: str | None = None,
) -> list[str]:
    argv = ["taskset", "-c", str(cpu)] if cpu is not None else []
    argv += ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(duration_s))}s"]
    argv += ["--latency", "--timeout", "5s"]
    if script is not None:
        argv += ["-s", script]
    for h in headers:
        argv += ["-H", h]
    argv.append(url)
    return argv


def run_wrk(
    url: str,
    *,
    duration_s: float,
    connections: int = 64,
    threads: int = 1,
    headers: Sequence[str] = (),
    cpu: int | None = 0,
    script: str | None = None,
) -> WrkResult:
    """Run wrk (bounded by ``duration + WRK_GRACE_S``) and parse its report."""
    argv = wrk_argv(
        url,
        duration_s=duration_s,
        connections=connections,
        threads=threads,
        headers=headers,
        cpu=cpu,
        script=script,
    )
    done = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=duration_s + WRK_GRACE_S,
        check=False,
        start_new_session=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stderr.strip()[:500]}")
    return parse_wrk(done.stdout)


VARY_MARK = "{n}"  # in a load's path: replaced by a per-request counter (varied request heads)


def varying_path_script(path: str, directory: str) -> str:
    """Write a wrk Lua script requesting ``path`` with ``{n}`` replaced by a counter, so no two
    requests on a connection share a head (defeats any per-connection head cache). Returns its
    file name."""
    head, _, tail = path.partition(VARY_MARK)
    lua = (
        "local n = 0\n"
        "request = function()\n"
        "  n = n + 1\n"
        f"  return wrk.format(nil, {head!r} .. n .. {tail!r})\n"
        "end\n"
    ).replace("'", '"')
    name = f"{directory}/vary.lua"
    with open(name, "w", encoding="ascii") as f:
        f.write(lua)
    return name


class Measured(Protocol):
    """What ``measure`` needs of a server: its process tree's CPU seconds so far."""

    def cpu_seconds(self) -> float: ...


def measure(
    server: Measured,
    url: str,
    *,
    duration_s: float,
    warmup_s: float,
    connections: int,
    headers: Sequence[str] = (),
    script: str | None = None,
) -> dict[str, Any]:
    """One measured wrk run after a warm-up: rps, latency, failures and the server's own CPU
    per completed request (the most stable figure on shared cores)."""
    if warmup_s > 0:
        run_wrk(url, duration_s=warmup_s, connections=connections, headers=headers, script=script)
    cpu0 = server.cpu_seconds()
    res = run_wrk(
        url, duration_s=duration_s, connections=connections, headers=headers, script=script
    )
    cpu = server.cpu_seconds() - cpu0
    return {
        "rps": res.rps,
        "p50_us": res.p50_us,
        "p99_us": res.p99_us,
        "requests": res.requests,
        "errors": res.errors,
        "non2xx": res.non2xx,
        "cpu_s": round(cpu, 3),
        "cpu_us_per_req": round(cpu * 1e6 / res.requests, 2) if res.requests else None,
        "clean": res.clean,
    }
