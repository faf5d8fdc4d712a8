"""Multi-node shield fixtures: two (or more) real ``EdgeServer`` nodes, each with its own
``WorkerServices``, in front of one real origin, sharing a PRIVATE redis-server.

The redis-server is started per test on a free loopback port (``tests/state/conftest.py``'s
``RedisServer``: persistence off, killed at the end) because tests kill and restart it. Nodes
share one ``FakeClock``'s wall time, like machines with synchronised clocks, but each has its
own monotonic origin (node i runs ``i * MONO_SKEW`` seconds ahead), as real machines do; tests
move time for all with ``clock.advance``.

    async with fleet(config_a, config_b) as (a, b):   # Node: .edge .services .shield
        ...

``sync_fleet`` drives the counter sync deterministically (each node's ``SyncedCounters.flush_once``
in turn: one tick of the flush interval; a node learns the fleet total of a key it used since its
last flush); ``eventually`` waits for a
condition with a deadline (polling every 5 ms) where the thing waited for happens in another
task (pub/sub delivery, a reconnect): never a blind sleep.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from tests.shield.conftest import SECRET, FakeClock, shield_config, shield_edge
from tests.state.conftest import RedisServer
from tests.support.edge import RunningEdge
from tests.support.origin import Origin

from shieldwall.config.model import Config
from shieldwall.config.security import SecurityConfig, ShieldConfig
from shieldwall.edge.filters.shield_state import ShieldState
from shieldwall.edge.services import WorkerServices

DEADLINE = 5.0  # seconds any cross-node propagation may take in these tests
TEST_DEADLINE = 8.0  # start, body, stop of one fleet (pytest-timeout would say less)
MONO_SKEW = 12_345.0  # difference between two nodes' monotonic clocks


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/shield_redis/" in str(item.fspath) and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(30))


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    (tmp_path / "redis").mkdir()
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def origin() -> AsyncIterator[Origin]:
    o = await Origin().start()
    try:
        yield o
    finally:
        await o.close()


def redis_config(
    origin: Origin,
    redis: RedisServer,
    *,
    security: SecurityConfig | None = None,
    **shield: object,
) -> Config:
    """The fleet's config: the shield on the Redis backend (counter flushes driven by tests)."""
    opts: dict[str, object] = {
        "secret": SECRET,
        "state_backend": "redis",
        "redis_url": redis.url,
        "sync_interval": 60.0,  # the background flush stays idle unless woken
    }
    opts.update(shield)
    return shield_config(origin.port, security=security, shield=ShieldConfig(**opts))  # type: ignore[arg-type]


@dataclass
class Node:
    edge: RunningEdge
    services: WorkerServices

    @property
    def shield(self) -> ShieldState:
        return self.services.shield


@asynccontextmanager
async def fleet(clock: FakeClock, *configs: Config) -> AsyncIterator[list[Node]]:
    """One started node per config, in order (each start waits for its fleet link). Start, body
    and stop each run under a deadline, so a hang fails with the await it hung at."""
    stack = AsyncExitStack()
    try:
        async with asyncio.timeout(TEST_DEADLINE):
            nodes = []
            for i, config in enumerate(configs):
                skew = i * MONO_SKEW
                services = WorkerServices(
                    clock=lambda s=skew: clock.now() + s, wall_clock=clock.wall_now
                )
                edge = await stack.enter_async_context(shield_edge(config, services))
                nodes.append(Node(edge, services))
        async with asyncio.timeout(TEST_DEADLINE):
            yield nodes
    finally:
        async with asyncio.timeout(TEST_DEADLINE):
            await stack.aclose()


def with_data_dir(config: Config, path: Path) -> Config:
    return replace(config, data_dir=str(path))


async def sync_fleet(*nodes: Node) -> None:
    """One flush interval's tick, driven by the test: every node flushes once, in order."""
    for n in nodes:
        counters = n.shield.counters
        assert counters is not None
        assert await counters.flush_once()


async def eventually(what: str, predicate: Callable[[], bool], deadline: float = DEADLINE) -> float:
    """Wait until ``predicate()``; return the seconds it took. Fails after ``deadline``."""
    start = time.monotonic()
    try:
        async with asyncio.timeout(deadline):
            while not predicate():
                await asyncio.sleep(0.005)
    except TimeoutError:
        pytest.fail(f"not within {deadline} s: {what}")
    return time.monotonic() - start
