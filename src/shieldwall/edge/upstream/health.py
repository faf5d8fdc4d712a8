"""Active origin health checks: one owned asyncio task per checked origin, per worker.

Each task sends ``GET <path>`` (``Connection: close``) to its origin every ``interval`` and
reads the status line within ``timeout``; a status in ``expected_statuses`` (default: any 2xx
or 3xx) is a success, anything else (refused, timeout, bad answer) a failure.
``OriginState.probe_result`` turns streaks into verdicts: ``unhealthy_threshold`` consecutive
failures eject the origin, ``healthy_threshold`` consecutive successes re-admit it.

``HealthChecker.sync(runtime)`` is called at start and after every reload: it starts tasks for
origins newly checked, cancels tasks of origins no longer checked (or whose check settings
changed) and leaves the rest running. Every worker probes on its own (a worker's verdict steers
only its own requests). ``probe`` is the whole network interaction, usable on its own.

Bounds: the status line must arrive within ``MAX_STATUS_LINE`` bytes; at most ``MAX_CHECKS``
tasks per worker.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import TYPE_CHECKING, Final

from shieldwall.config.cache import HealthCheckConfig
from shieldwall.config.model import OriginConfig
from shieldwall.edge.upstream.balancer import OriginState, OriginStates

if TYPE_CHECKING:
    from shieldwall.edge.runtime import Runtime

__all__ = ["MAX_CHECKS", "HealthChecker", "probe", "status_ok"]

log = logging.getLogger(__name__)

MAX_STATUS_LINE: Final = 1024  # bytes read looking for the probe's status line
MAX_CHECKS: Final = 10_000  # checked origins per worker
USER_AGENT: Final = b"shieldwall-health/1"

_CheckKey = tuple[str, str, int, bool]


def status_ok(status: int, expected: tuple[int, ...]) -> bool:
    return status in expected if expected else 200 <= status < 400


async def probe(origin: OriginConfig, check: HealthCheckConfig, host: str) -> int:
    """One probe: the origin's status code, or 0 when it did not answer properly in time."""
    ctx: ssl.SSLContext | None = None
    if origin.tls:
        ctx = ssl.create_default_context()
        if not origin.tls_verify:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(check.timeout):
            reader, writer = await asyncio.open_connection(
                origin.host,
                origin.port,
                ssl=ctx,
                server_hostname=(origin.sni or origin.host) if origin.tls else None,
            )
            writer.write(
                b"GET %s HTTP/1.1\r\nhost: %s\r\nuser-agent: %s\r\nconnection: close\r\n\r\n"
                % (check.path.encode("latin-1"), host.encode("idna"), USER_AGENT)
            )
            line = await reader.readuntil(b"\n")
    except (OSError, TimeoutError, ssl.SSLError, asyncio.IncompleteReadError, UnicodeError):
        return 0
    except asyncio.LimitOverrunError:
        return 0
    finally:
        if writer is not None:
            writer.close()
    parts = line[:MAX_STATUS_LINE].split(None, 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        return 0
    return int(parts[1])


class HealthChecker:
    """Owns the probe tasks of one worker."""

    def __init__(self, states: OriginStates) -> None:
        self.states = states
        self._tasks: dict[_CheckKey, tuple[HealthCheckConfig, str, asyncio.Task[None]]] = {}
        self.probes = 0  # probes sent (tests, metrics)

    def sync(self, runtime: Runtime) -> None:
        wanted: dict[_CheckKey, tuple[HealthCheckConfig, str, OriginConfig]] = {}
        for zone in runtime.zones:
            zc = zone.config
            check = zc.load_balancing.health_check
            if not check.enabled:
                continue
            host = check.host or (zc.hosts[0].lstrip("*.") if zc.hosts else zc.name)
            for origin in zone.origins:
                if len(wanted) >= MAX_CHECKS:
                    break
                wanted[(zc.name, origin.host, origin.port, origin.tls)] = (check, host, origin)
        for key, (check, host, task) in list(self._tasks.items()):
            w = wanted.get(key)
            if w is None or w[0] != check or w[1] != host:
                task.cancel()
                del self._tasks[key]
        for key, (check, host, origin) in wanted.items():
            if key in self._tasks:
                continue
            state = self.states.get(key[0], origin)
            task = asyncio.get_running_loop().create_task(
                self._run(origin, check, host, state), name=f"shieldwall-health-{key[1]}:{key[2]}"
            )
            self._tasks[key] = (check, host, task)

    async def _run(
        self, origin: OriginConfig, check: HealthCheckConfig, host: str, state: OriginState
    ) -> None:
        while True:
            status = await probe(origin, check, host)
            self.probes += 1
            was = state.healthy
            state.probe_result(
                status_ok(status, check.expected_statuses),
                check.healthy_threshold,
                check.unhealthy_threshold,
            )
            if was != state.healthy:
                log.warning(
                    "origin %s:%d %s (probe status %d)",
                    origin.host,
                    origin.port,
                    "re-admitted" if state.healthy else "ejected",
                    status,
                )
            await asyncio.sleep(check.interval)

    @property
    def running(self) -> int:
        return len(self._tasks)

    async def stop(self) -> None:
        tasks = [t for _, _, t in self._tasks.values()]
        self._tasks.clear()
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
