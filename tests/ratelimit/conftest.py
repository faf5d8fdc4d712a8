"""Fixtures for rate-limit tests: a request-context factory and a settable clock."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from shieldwall.config.model import Config
from shieldwall.edge.context import ConnectionInfo, RequestContext
from shieldwall.edge.runtime import build_runtime

_RUNTIME = build_runtime(Config(), 1)


class FakeClock:
    def __init__(self, t: float = 1_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, dt: float) -> None:
        self.t += dt


def make_ctx(
    ip: str = "192.0.2.7",
    method: bytes = b"GET",
    path: bytes = b"/",
    headers: list[tuple[bytes, bytes]] | None = None,
    ja4: str | None = None,
) -> RequestContext:
    conn = ConnectionInfo(
        peer_ip=ip, peer_port=40000, client_ip=ip, client_port=40000, local_port=8080, ja4=ja4
    )
    return RequestContext(
        conn=conn,
        runtime=_RUNTIME,
        request_id="r1",
        started=0.0,
        method=method,
        path=path,
        target=path,
        headers=headers or [],
        client_ip=ip,
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def ctx_factory() -> Callable[..., RequestContext]:
    return make_ctx
