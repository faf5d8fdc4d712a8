"""Active health checks against real origins on 127.0.0.1 (tests/support/origin.py)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

from tests.support.origin import Origin, OriginResponse, ReceivedRequest

from shieldwall.config.cache import HealthCheckConfig, LoadBalancingConfig
from shieldwall.config.model import Config, OriginConfig, ZoneConfig
from shieldwall.edge.runtime import build_runtime
from shieldwall.edge.upstream.balancer import OriginStates
from shieldwall.edge.upstream.health import HealthChecker, probe, status_ok

FAST = HealthCheckConfig(
    enabled=True, path="/healthz", interval=0.02, timeout=0.5, healthy_threshold=2,
    unhealthy_threshold=3,
)  # fmt: skip


async def _until(pred: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not pred():
            await asyncio.sleep(0.005)


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port: int = s.getsockname()[1]
    s.close()
    return port


def _runtime(ports: list[int], check: HealthCheckConfig = FAST) -> object:
    zone = ZoneConfig(
        name="z",
        hosts=("example.com",),
        origins=tuple(OriginConfig(host="127.0.0.1", port=p) for p in ports),
        load_balancing=LoadBalancingConfig(health_check=check),
    )
    return build_runtime(Config(zones=(zone,)), 1)


def test_status_ok() -> None:
    assert status_ok(200, ()) and status_ok(301, ()) and not status_ok(500, ())
    assert status_ok(204, (204,)) and not status_ok(200, (204,))


async def test_probe_sends_get_with_host_and_reads_status() -> None:
    async with Origin(lambda r: OriginResponse(status=503)) as origin:
        o = OriginConfig(host="127.0.0.1", port=origin.port)
        assert await probe(o, FAST, "example.com") == 503
        req = origin.requests[0]
        assert (req.method, req.target, req.headers["host"]) == ("GET", "/healthz", "example.com")
    assert await probe(OriginConfig(host="127.0.0.1", port=_closed_port()), FAST, "x") == 0


async def test_probe_timeout_is_a_failure() -> None:
    async with Origin(lambda r: OriginResponse(delay=1.0)) as origin:
        check = HealthCheckConfig(enabled=True, timeout=0.05, interval=1.0)
        assert await probe(OriginConfig(host="127.0.0.1", port=origin.port), check, "x") == 0


async def test_eject_after_failures_and_readmit_after_successes() -> None:
    up = True

    def handler(req: ReceivedRequest) -> OriginResponse:
        return OriginResponse(status=200 if up else 500)

    async with Origin(handler) as origin:
        states = OriginStates()
        checker = HealthChecker(states)
        checker.sync(_runtime([origin.port]))  # type: ignore[arg-type]
        state = states.get("z", OriginConfig(host="127.0.0.1", port=origin.port))
        try:
            await _until(lambda: checker.probes >= 2)
            assert state.healthy
            up = False
            seen = checker.probes
            await _until(lambda: not state.healthy)
            assert checker.probes - seen >= FAST.unhealthy_threshold
            up = True
            seen = checker.probes
            await _until(lambda: state.healthy)
            assert checker.probes - seen >= FAST.healthy_threshold
        finally:
            await checker.stop()
        assert checker.running == 0


async def test_refused_origin_is_ejected_and_sync_follows_reloads() -> None:
    dead = _closed_port()
    async with Origin() as origin:
        states = OriginStates()
        checker = HealthChecker(states)
        checker.sync(_runtime([origin.port, dead]))  # type: ignore[arg-type]
        try:
            assert checker.running == 2
            dead_state = states.get("z", OriginConfig(host="127.0.0.1", port=dead))
            live_state = states.get("z", OriginConfig(host="127.0.0.1", port=origin.port))
            await _until(lambda: not dead_state.healthy)
            assert live_state.healthy
            checker.sync(_runtime([origin.port]))  # type: ignore[arg-type]
            assert checker.running == 1
            checker.sync(_runtime([origin.port], HealthCheckConfig()))  # type: ignore[arg-type]
            assert checker.running == 0
        finally:
            await checker.stop()
